import { describe, expect, it } from 'vitest';
import { logAvx2, sincosAvx2 } from './avx-mathfun.js';

// Bit-exactness against torch is checked through TorchCpuGenerator; here, that these are the
// accurate float32 log/sin/cos they are meant to be over the inputs torch's Box–Muller feeds them.
const ULP_AT_ONE = 2 ** -23;

describe('logAvx2', () => {
  it('is exact at 1 and NaN outside its domain', () => {
    expect(logAvx2(1)).toBe(0);
    expect(logAvx2(0)).toBeNaN();
    expect(logAvx2(-1)).toBeNaN();
  });

  it('is within 2 float32 ulps of ln(x) on (0, 1]', () => {
    for (let k = 1; k <= 2 ** 24; k += 997) {
      const x = k * 2 ** -24;
      const want = Math.log(x);
      const ulp = 2 ** (Math.floor(Math.log2(Math.abs(want) || 1)) - 23);
      expect(Math.abs(logAvx2(x) - want)).toBeLessThanOrEqual(2 * ulp);
    }
  });
});

describe('sincosAvx2', () => {
  it('is within 2 ulps (of 1) of sin and cos on [0, 2π)', () => {
    const out = new Float32Array(2);
    for (let k = 0; k < 2 ** 16; k += 7) {
      const theta = Math.fround((k / 2 ** 16) * 2 * Math.PI);
      sincosAvx2(theta, out);
      expect(Math.abs(out[0] - Math.sin(theta))).toBeLessThanOrEqual(2 * ULP_AT_ONE);
      expect(Math.abs(out[1] - Math.cos(theta))).toBeLessThanOrEqual(2 * ULP_AT_ONE);
    }
  });

  it('is odd in sin and even in cos', () => {
    const positive = new Float32Array(2);
    const negative = new Float32Array(2);
    sincosAvx2(Math.fround(2.5), positive);
    sincosAvx2(Math.fround(-2.5), negative);
    expect(negative[0]).toBe(-positive[0]);
    expect(negative[1]).toBe(positive[1]);
  });
});
