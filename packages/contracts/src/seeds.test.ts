import { describe, expect, it } from 'vitest';
import { MAX_SEED, randomSeed, resolveSeeds, SEED_MODULUS } from './seeds.js';

/** A deterministic stand-in for the random source: hands out the given values in order. */
function sequence(...values: number[]) {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error('random() called more often than expected');
    return values[i++]!;
  };
}

describe('resolveSeeds', () => {
  it('an int s gives s, s+1, … for num_images', () => {
    expect(resolveSeeds(42, 4, sequence())).toEqual([42, 43, 44, 45]);
  });

  it('wraps modulo 2^32', () => {
    expect(SEED_MODULUS).toBe(4294967296);
    expect(resolveSeeds(MAX_SEED - 1, 4, sequence())).toEqual([4294967294, 4294967295, 0, 1]);
  });

  it('a list gives its entries, drawing each null in order', () => {
    expect(resolveSeeds([5, null, 9, null], 4, sequence(100, 200))).toEqual([5, 100, 9, 200]);
  });

  it.each([null, undefined])('%s draws every seed', (seed) => {
    expect(resolveSeeds(seed, 3, sequence(7, 8, 9))).toEqual([7, 8, 9]);
  });

  it('a single image from a list entry is the same seed as the list gave (reproducible alone)', () => {
    const seeds = resolveSeeds(1234, 3, sequence());
    expect(resolveSeeds(seeds[2]!, 1, sequence())).toEqual([1236]);
  });

  it.each([
    ['a negative seed', -1, 1],
    ['a seed of 2^32', 2 ** 32, 1],
    ['a fractional seed', 1.5, 1],
    ['a list of the wrong length', [1, 2], 3],
    ['a bad list entry', [1, -2], 2],
    ['zero images', 1, 0],
  ] as const)('throws on %s', (_, seed, n) => {
    expect(() => resolveSeeds(seed as number | number[], n, sequence(1, 2, 3))).toThrow(RangeError);
  });

  it('throws when the random source leaves [0, 2^32)', () => {
    expect(() => resolveSeeds(null, 1, () => 2 ** 32)).toThrow(RangeError);
    expect(() => resolveSeeds([null], 1, () => 0.5)).toThrow(RangeError);
  });

  it('the default random source gives integers in [0, 2^32)', () => {
    const seeds = resolveSeeds(null, 16);
    expect(seeds).toHaveLength(16);
    for (const s of seeds) expect(Number.isInteger(s) && s >= 0 && s <= MAX_SEED).toBe(true);
    expect(new Set(Array.from({ length: 8 }, randomSeed)).size).toBeGreaterThan(1);
  });
});
