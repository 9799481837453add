import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import { BrownianTree, BrownianTreeNoiseSampler, deriveSeed, seedFromRandomSource } from './brownian-tree.js';

/** Sample mean and variance. */
function moments(values: ArrayLike<number>) {
  let sum = 0;
  let sumSquares = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    sumSquares += values[i] * values[i];
  }
  const mean = sum / values.length;
  return { mean, variance: sumSquares / values.length - mean * mean };
}

function covariance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ma = moments(a).mean;
  const mb = moments(b).mean;
  let c = 0;
  for (let i = 0; i < a.length; i++) c += (a[i] - ma) * (b[i] - mb);
  return c / a.length;
}

// The sigma range of SD1.5 with Karras sigmas, and enough coordinates for tight statistics:
// a variance estimated from N normals has relative standard deviation sqrt(2/N) ≈ 0.01.
const SIGMA_MIN = 0.0291675;
const SIGMA_MAX = 14.614645;
const N = 20000;
const FOUR_SIGMA_VARIANCE = 4 * Math.sqrt(2 / N);

describe('BrownianTree', () => {
  const tree = new BrownianTree({ t0: SIGMA_MIN, t1: SIGMA_MAX, size: N, seed: 1234 });

  it('starts at zero and clamps queries to its interval', () => {
    expect(Array.from(tree.valueAt(SIGMA_MIN)).every((v) => v === 0)).toBe(true);
    expect(tree.valueAt(SIGMA_MIN / 2)).toEqual(tree.valueAt(SIGMA_MIN));
    expect(tree.valueAt(SIGMA_MAX * 1.000001)).toEqual(tree.valueAt(SIGMA_MAX));
  });

  it('is one fixed path: values do not depend on the query order, the cache or earlier queries', () => {
    const points = [9.1029, 0.2014, 5.4784, 9.1029, 0.0819, 0.082, 3.1686];
    const options = { t0: SIGMA_MIN, t1: SIGMA_MAX, size: 64, seed: 99 };
    const eachOnAFreshTree = points.map((t) => new BrownianTree(options).valueAt(t));
    const uncached = new BrownianTree({ ...options, cacheSize: 0 });
    expect(points.map((t) => uncached.valueAt(t))).toEqual(eachOnAFreshTree);
    const reversed = new BrownianTree(options);
    expect(
      [...points]
        .reverse()
        .map((t) => reversed.valueAt(t))
        .reverse(),
    ).toEqual(eachOnAFreshTree);
    const other = new BrownianTree({ ...options, seed: 100 });
    expect(other.valueAt(points[0])).not.toEqual(eachOnAFreshTree[0]);
  });

  it('has increments W(b) - W(a) ~ N(0, b - a), from whole-range to near-tolerance intervals', () => {
    const intervals: [number, number][] = [
      [SIGMA_MIN, SIGMA_MAX],
      [0.9140764, 1.7494229],
      [0.081911, 0.0488782],
      [7.3, 7.30001],
    ];
    for (const [a, b] of intervals) {
      const { mean, variance } = moments(tree.increment(a, b));
      const expected = Math.abs(b - a);
      expect(Math.abs(mean) / Math.sqrt(expected / N)).toBeLessThan(4);
      expect(Math.abs(variance / expected - 1)).toBeLessThan(FOUR_SIGMA_VARIANCE);
    }
  });

  it('has independent increments over disjoint intervals and Cov(W(c)-W(a), W(b)-W(a)) = b - a', () => {
    const [a, b, c] = [0.4469209, 0.9140764, 1.7494229];
    const first = tree.increment(a, b);
    const second = tree.increment(b, c);
    const whole = tree.increment(a, c);
    expect(Math.abs(covariance(first, second)) / Math.sqrt((b - a) * (c - b))).toBeLessThan(4 / Math.sqrt(N));
    expect(Math.abs(covariance(whole, first) / (b - a) - 1)).toBeLessThan(4 * Math.sqrt(2 / N));
  });
});

describe('BrownianTreeNoiseSampler', () => {
  it('gives standard normal noise (W(σ′) - W(σ)) / sqrt(|σ′ - σ|)', () => {
    const sampler = new BrownianTreeNoiseSampler(SIGMA_MIN, SIGMA_MAX, N, [5]);
    const { mean, variance } = moments(sampler.noise(5.4784, 4.1665));
    expect(Math.abs(mean) * Math.sqrt(N)).toBeLessThan(4);
    expect(Math.abs(variance - 1)).toBeLessThan(FOUR_SIGMA_VARIANCE);
  });

  it('keeps batch items independent of each other: item i equals a lone sampler with seed i', () => {
    const batch = new BrownianTreeNoiseSampler(SIGMA_MIN, SIGMA_MAX, 32, [11, 22]);
    const alone = new BrownianTreeNoiseSampler(SIGMA_MIN, SIGMA_MAX, 32, [22]);
    const noise = batch.noise(3.1686, 1.7494);
    expect(noise.subarray(32)).toEqual(alone.noise(3.1686, 1.7494));
    expect(noise.subarray(0, 32)).not.toEqual(noise.subarray(32));
  });
});

describe('tree seeds', () => {
  it('derives distinct, deterministic 32-bit seeds', () => {
    const seeds = new Set(Array.from({ length: 1000 }, (_, i) => deriveSeed(7, i)));
    expect(seeds.size).toBe(1000);
    expect(deriveSeed(7, 3)).toBe(deriveSeed(7, 3));
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });

  it('draws a seed from a generator deterministically per generator seed', () => {
    expect(seedFromRandomSource(new TorchCpuGenerator(42))).toBe(seedFromRandomSource(new TorchCpuGenerator(42)));
    expect(seedFromRandomSource(new TorchCpuGenerator(42))).not.toBe(seedFromRandomSource(new TorchCpuGenerator(43)));
  });
});
