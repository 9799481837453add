import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, fromHalfBits, toHalfBits } from './float16.js';

describe('float16', () => {
  it('encodes known values', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(toHalfBits(2 ** -24)).toBe(0x0001);
    expect(toHalfBits(0.1)).toBe(0x2e66);
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
  });

  it('rounds half to even and round-trips every half value', () => {
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    for (let h = 0; h < 0x7c00; h++) {
      expect(toHalfBits(fromHalfBits(h))).toBe(h);
    }
  });

  it('converts arrays', () => {
    const back = float16ToFloat32(float32ToFloat16(Float32Array.of(0.5, -3.25, 1024)));
    expect([...back]).toEqual([0.5, -3.25, 1024]);
  });
});
