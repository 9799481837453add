/**
 * A seeded Brownian motion that can be evaluated at any time, in any order, and always yields the same
 * path: a binary tree of Brownian bridges (the idea behind torchsde's BrownianTree/BrownianInterval,
 * which k-diffusion's and diffusers' `BrownianTreeNoiseSampler` use). Kiln's own construction: every
 * tree node draws its normals from a `TorchCpuGenerator` seeded by a hash of its path, so the values
 * are reproducible per seed, but they are not the numbers torchsde would draw.
 */
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import type { RandomSource } from '../rng/random-source.js';

/** murmur3's 32-bit finaliser: a bijective avalanche mix. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed derived from `seed` for the sub-stream `branch` (deterministic, well mixed). */
export function deriveSeed(seed: number, branch: number): number {
  return fmix32(fmix32(seed) ^ fmix32(Math.imul(branch + 1, 0x9e3779b9)));
}

/**
 * A 32-bit seed drawn from a random source (two normals' float32 bit patterns, hashed), so a tree
 * can follow the per-image generator the pipeline passes to `step`.
 */
export function seedFromRandomSource(source: RandomSource): number {
  const bits = new Uint32Array(source.randn([2]).buffer);
  return fmix32(bits[0] ^ fmix32(bits[1] ^ 0x5bd1e995));
}

const LEFT_CHILD = 2;
const RIGHT_CHILD = 3;
const ROOT_NODE = 0;
const ROOT_ENDPOINT = 1;

/** An interval [a, b] of the tree with its path values and the seed of its midpoint draw. */
interface BridgeNode {
  a: number;
  b: number;
  wa: Float64Array;
  wb: Float64Array;
  seed: number;
}

/** Options of a {@link BrownianTree}. */
export interface BrownianTreeOptions {
  /** Start of the time interval; W(t0) = 0. */
  t0: number;
  /** End of the time interval. */
  t1: number;
  /** Number of independent Brownian coordinates (elements of one batch item). */
  size: number;
  /** 32-bit seed of the whole path. */
  seed: number;
  /** Bisection stops once an interval is this short; inside it W is the bridge mean (k-diffusion: 1e-6). */
  tolerance?: number;
  /** How many evaluated points to remember (queries repeat the same sigmas). */
  cacheSize?: number;
}

/**
 * W(t) on [t0, t1]: W(t1) ~ N(0, t1 - t0) from the seed; an interval [a, b] with known ends fixes its
 * midpoint as the Brownian-bridge sample (W(a) + W(b)) / 2 + sqrt((b - a) / 4) · Z, where Z comes from
 * the interval's own seed, and bisection descends towards t.
 */
export class BrownianTree {
  readonly t0: number;
  readonly t1: number;
  readonly size: number;
  private readonly tolerance: number;
  private readonly cacheSize: number;
  private readonly rootSeed: number;
  private readonly end: Float64Array;
  private readonly cache = new Map<number, Float64Array>();
  /** The nodes of the last descent, root first. */
  private readonly path: BridgeNode[];

  constructor(options: BrownianTreeOptions) {
    if (!(options.t1 > options.t0)) throw new Error('BrownianTree: t1 must exceed t0');
    this.t0 = options.t0;
    this.t1 = options.t1;
    this.size = options.size;
    this.tolerance = options.tolerance ?? 1e-6;
    this.cacheSize = options.cacheSize ?? 16;
    this.rootSeed = options.seed >>> 0;
    const z = this.normals(deriveSeed(this.rootSeed, ROOT_ENDPOINT));
    const scale = Math.sqrt(this.t1 - this.t0);
    this.end = Float64Array.from(z, (v) => v * scale);
    this.path = [
      {
        a: this.t0,
        b: this.t1,
        wa: new Float64Array(this.size),
        wb: this.end,
        seed: deriveSeed(this.rootSeed, ROOT_NODE),
      },
    ];
  }

  /** W(t), clamped to [t0, t1] (as torchsde does for slightly out-of-range queries). */
  valueAt(time: number): Float64Array {
    const t = Math.min(Math.max(time, this.t0), this.t1);
    if (t === this.t0) return new Float64Array(this.size);
    if (t === this.t1) return this.end.slice();
    const cached = this.cache.get(t);
    if (cached) return cached.slice();
    const value = this.descend(t);
    this.cache.set(t, value);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as number);
    return value.slice();
  }

  /** W(tb) - W(ta). */
  increment(ta: number, tb: number): Float64Array {
    const a = this.valueAt(ta);
    const b = this.valueAt(tb);
    for (let i = 0; i < b.length; i++) b[i] -= a[i];
    return b;
  }

  private descend(t: number): Float64Array {
    // Reuse the part of the previous descent that lies on t's side: consecutive queries (the
    // sigmas of neighbouring steps) share most of their ancestors, and every node costs a draw.
    let level = 0;
    while (level + 1 < this.path.length) {
      const node = this.path[level];
      const m = node.a + (node.b - node.a) / 2;
      const child = this.path[level + 1];
      const sameSide = t < m ? child.b === m : t > m && child.a === m;
      if (!sameSide) break;
      level++;
    }
    this.path.length = level + 1;
    let node = this.path[level];
    while (node.b - node.a > this.tolerance) {
      const m = node.a + (node.b - node.a) / 2;
      if (m <= node.a || m >= node.b) break; // no float64 strictly between: the interval cannot shrink
      const z = this.normals(node.seed);
      const spread = Math.sqrt((node.b - node.a) / 4);
      const wm = new Float64Array(this.size);
      for (let i = 0; i < wm.length; i++) wm[i] = 0.5 * (node.wa[i] + node.wb[i]) + spread * z[i];
      if (t === m) return wm;
      node =
        t < m
          ? { a: node.a, b: m, wa: node.wa, wb: wm, seed: deriveSeed(node.seed, LEFT_CHILD) }
          : { a: m, b: node.b, wa: wm, wb: node.wb, seed: deriveSeed(node.seed, RIGHT_CHILD) };
      this.path.push(node);
    }
    // Inside an interval shorter than the tolerance: the bridge mean (linear interpolation).
    const w = (t - node.a) / (node.b - node.a);
    const out = new Float64Array(this.size);
    for (let i = 0; i < out.length; i++) out[i] = node.wa[i] + w * (node.wb[i] - node.wa[i]);
    return out;
  }

  private normals(seed: number): Float32Array {
    return new TorchCpuGenerator(seed).randn([this.size]);
  }
}

/**
 * Everything a sampler's Brownian noise depends on. The noise is a function of the seeds and the
 * sigmas only, never of the latents, so the whole sequence of queries is known before the first
 * step and can be drawn ahead (noise-ahead/noise-ahead.ts).
 */
export interface BrownianNoiseSpec {
  sigmaMin: number;
  sigmaMax: number;
  /** Elements of one batch item. */
  itemSize: number;
  /** One tree seed per batch item. */
  seeds: readonly number[];
  /** Every `noise(sigma, sigmaNext)` the scheduler will ask for, in order. */
  queries: ReadonlyArray<readonly [sigma: number, sigmaNext: number]>;
}

/** A batch's normalised Brownian increments, as {@link BrownianTreeNoiseSampler.noise} gives them. */
export interface BrownianNoise {
  noise(sigma: number, sigmaNext: number): Float32Array;
}

/** Makes the Brownian noise of one denoising loop; the scheduler's default draws inline. */
export type BrownianNoiseSource = (spec: BrownianNoiseSpec) => BrownianNoise;

/**
 * k-diffusion's `BrownianTreeNoiseSampler` with one tree per batch item (its list-of-seeds mode):
 * `noise(σ, σ') = (W(σ') - W(σ)) / sqrt(|σ' - σ|)`, a standard normal per element that stays
 * consistent across step counts, and does not depend on the other items of the batch.
 */
export class BrownianTreeNoiseSampler implements BrownianNoise {
  private readonly trees: BrownianTree[];
  private readonly itemSize: number;

  /**
   * Drawn here, in the caller's thread. Every tree node's value follows from its seed and its
   * ancestors, never from the order of earlier queries, so any query gives the same numbers here
   * as in a sampler that answered the ones before it.
   */
  static fromSpec(spec: BrownianNoiseSpec): BrownianTreeNoiseSampler {
    return new BrownianTreeNoiseSampler(spec.sigmaMin, spec.sigmaMax, spec.itemSize, spec.seeds);
  }

  /** @param seeds one per batch item; `itemSize` elements each. */
  constructor(sigmaMin: number, sigmaMax: number, itemSize: number, seeds: readonly number[]) {
    this.itemSize = itemSize;
    this.trees = seeds.map((seed) => new BrownianTree({ t0: sigmaMin, t1: sigmaMax, size: itemSize, seed }));
  }

  /** Normalised Brownian increments between `sigma` and `sigmaNext` for the whole batch (float32). */
  noise(sigma: number, sigmaNext: number): Float32Array {
    const f32 = Math.fround;
    const scale = f32(Math.sqrt(f32(Math.abs(f32(sigmaNext - sigma)))));
    const out = new Float32Array(this.trees.length * this.itemSize);
    this.trees.forEach((tree, item) => {
      const dw = tree.increment(sigma, sigmaNext);
      for (let i = 0; i < dw.length; i++) out[item * this.itemSize + i] = f32(f32(dw[i]) / scale);
    });
    return out;
  }
}
