import { describe, expect, it } from 'vitest';
import { PhiloxGenerator } from './philox-generator.js';
import { philox4x32Round10 } from './philox4x32.js';
import { float32Hex, readRngFixture, sums } from './test-helpers.js';

/**
 * Values from the algorithm of AUTOMATIC1111's modules/rng_philox.py run under numpy (see the
 * fixture's _meta), plus Random123's Philox4x32-10 known-answer vectors.
 */
interface PhiloxFixture {
  _meta: { docstring_seed0_3x4: number[] };
  philox4x32_10: { counter: number[]; key: number[]; out: number[] }[];
  cases: {
    seed: string;
    draws: {
      shape: number[];
      numel: number;
      sum_f64: number;
      sum_sq_f64: number;
      f32_hex?: string[];
      first32_f32_hex?: string[];
      last32_f32_hex?: string[];
    }[];
  }[];
}

const fixture = readRngFixture<PhiloxFixture>('philox-randn.json');

describe('philox4x32Round10', () => {
  it('reproduces the Random123 known-answer vectors', () => {
    const out = new Uint32Array(4);
    for (const { counter, key, out: want } of fixture.philox4x32_10) {
      const [c0, c1, c2, c3] = counter;
      philox4x32Round10(c0, c1, c2, c3, key[0], key[1], out);
      expect(Array.from(out)).toEqual(want);
    }
    // Independent of the fixture file: Random123's all-zero vector.
    philox4x32Round10(0, 0, 0, 0, 0, 0, out);
    expect(Array.from(out)).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  });
});

describe('PhiloxGenerator (AUTOMATIC1111 "NV" source)', () => {
  it("agrees with rng_philox.py's documented output for seed 0, shape (3, 4)", () => {
    // The docstring's values are CUDA's (float32 arithmetic), not rng_philox's own float64
    // result; they differ by up to ~3e-7, so this checks the counter/key layout, not the bits.
    const got = new PhiloxGenerator(0).randn([3, 4]);
    fixture._meta.docstring_seed0_3x4.forEach((want, i) => expect(Math.abs(got[i] - want)).toBeLessThan(1e-6));
  });

  for (const { seed, draws } of fixture.cases) {
    it(`matches rng_philox bit for bit: seed ${seed}, draws ${draws.map((d) => `[${d.shape}]`).join(' then ')}`, () => {
      const generator = new PhiloxGenerator(BigInt(seed));
      for (const ref of draws) {
        const got = generator.randn(ref.shape);
        expect(got.length).toBe(ref.numel);
        if (ref.f32_hex) {
          expect(float32Hex(got)).toEqual(ref.f32_hex);
        } else {
          expect(float32Hex(got.subarray(0, 32))).toEqual(ref.first32_f32_hex);
          expect(float32Hex(got.subarray(ref.numel - 32))).toEqual(ref.last32_f32_hex);
        }
        const { sum, sumSq } = sums(got);
        expect(Math.abs(sum - ref.sum_f64)).toBeLessThan(1e-9);
        expect(Math.abs(sumSq - ref.sum_sq_f64)).toBeLessThan(1e-8);
      }
    });
  }

  it('gives element i the same value whatever the tensor size (one counter per element)', () => {
    const small = new PhiloxGenerator(5).randn([4]);
    const large = new PhiloxGenerator(5).randn([1, 4, 8, 8]);
    expect(Array.from(large.subarray(0, 4))).toEqual(Array.from(small));
  });

  it('rejects seeds outside [0, 2^64)', () => {
    expect(() => new PhiloxGenerator(-1)).toThrow(RangeError);
    expect(() => new PhiloxGenerator(2n ** 64n)).toThrow(RangeError);
  });
});
