import { readFileSync } from 'node:fs';

/** Parses a JSON fixture from packages/diffusion/fixtures/rng/. */
export function readRngFixture<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../fixtures/rng/${name}`, import.meta.url), 'utf8')) as T;
}

/** The IEEE-754 bit pattern of each float32, as 8 lowercase hex digits. */
export function float32Hex(values: ArrayLike<number>): string[] {
  const view = new DataView(new ArrayBuffer(4));
  return Array.from(values, (value) => {
    view.setFloat32(0, value);
    return view.getUint32(0).toString(16).padStart(8, '0');
  });
}

/**
 * The sum of `values` computed exactly (every float32 is a multiple of 2^-149) and then rounded
 * once to float64, and the float64 sum of squares. The exact sum moves if any element moves.
 */
export function sums(values: Float32Array): { sum: number; sumSq: number } {
  let exactSum = 0n;
  let sumSq = 0;
  for (const value of values) {
    exactSum += BigInt(value * 2 ** 149);
    sumSq += value * value;
  }
  return { sum: Number(exactSum) / 2 ** 149, sumSq };
}
