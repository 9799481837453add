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

/** float64 sum and sum of squares of `values`. */
export function sums(values: Float32Array): { sum: number; sumSq: number } {
  let sum = 0;
  let sumSq = 0;
  for (const value of values) {
    sum += value;
    sumSq += value * value;
  }
  return { sum, sumSq };
}
