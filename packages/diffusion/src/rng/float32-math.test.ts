import { describe, expect, it } from 'vitest';
import { fmaf32 } from './float32-math.js';

const SCALE_BITS = 149n; // every float32 is an integer multiple of 2^-149

/** Exact a*b + c rounded once to float32 (round half to even), with BigInt; normal results only. */
function referenceFma(a: number, b: number, c: number): number {
  const toInt = (x: number): bigint => BigInt(x * 2 ** 149);
  const exact = toInt(a) * toInt(b) + (toInt(c) << SCALE_BITS); // units of 2^-298
  if (exact === 0n) return 0;
  const negative = exact < 0n;
  const magnitude = negative ? -exact : exact;
  const shift = BigInt(magnitude.toString(2).length - 24);
  let significand = magnitude >> shift;
  const remainder = magnitude - (significand << shift);
  const half = 1n << (shift - 1n);
  if (remainder > half || (remainder === half && (significand & 1n) === 1n)) significand += 1n;
  const value = Number(significand) * 2 ** (Number(shift) - 298);
  return negative ? -value : value;
}

describe('fmaf32', () => {
  it('rounds once where float64-then-float32 would round twice', () => {
    // 1.00000012 * 0.99999994 = 1 + 2^-24 - 2^-47; adding 2^-47 + 2^-70 gives 1 + 2^-24 + 2^-70,
    // which float64 rounds to the midpoint 1 + 2^-24 and float32 then to 1. The right answer is 1 + 2^-23.
    const a = Math.fround(1 + 2 ** -23);
    const b = Math.fround(1 - 2 ** -24);
    const c = Math.fround(2 ** -47 + 2 ** -70);
    expect(Math.fround(a * b + c)).toBe(1);
    expect(fmaf32(a, b, c)).toBe(1 + 2 ** -23);
    expect(fmaf32(-a, b, -c)).toBe(-(1 + 2 ** -23));
    expect(fmaf32(a, b, -c)).toBe(referenceFma(a, b, -c));
  });

  it('matches an exact BigInt reference on random float32 triples', () => {
    let state = 12345;
    const nextFloat = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const mantissa = 1 + (state >>> 8) / 2 ** 24;
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      const exponent = (state >>> 27) - 16; // 2^-16 .. 2^15
      return Math.fround((state & 1 ? -1 : 1) * mantissa * 2 ** exponent);
    };
    for (let i = 0; i < 20000; i++) {
      const a = nextFloat();
      const b = nextFloat();
      // Put c near -a*b half the time so cancellation is exercised too.
      const c = i % 2 ? nextFloat() : Math.fround(-a * b * (1 + 2 ** -20));
      expect(fmaf32(a, b, c)).toBe(referenceFma(a, b, c));
    }
  });
});
