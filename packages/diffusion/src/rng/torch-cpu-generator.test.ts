import { describe, expect, it } from 'vitest';
import { float32Hex, readRngFixture, sums } from './test-helpers.js';
import { TorchCpuGenerator } from './torch-cpu-generator.js';

/** torch 1.13 CPU reference (copied from /work/shared/reference/torch-randn.json). */
interface TorchRandnFixture {
  torch_version: string;
  cases: {
    seed: number;
    shape: number[];
    numel: number;
    sum_f64: number;
    sum_sq_f64: number;
    /** Whole tensor (small shapes) or, for large ones, first32 + last32. */
    values?: number[];
    first32?: number[];
    last32?: number[];
    /** Bits of `values`, or of first32 followed by last32. */
    stored_f32_hex: string[];
  }[];
  sequential_same_generator_seed42: { shape: number[]; values: number[] }[];
}

const fixture = readRngFixture<TorchRandnFixture>('torch-randn.json');
// sum_f64 equals the exact sum rounded to float64, so it is compared exactly; sum_sq_f64 went
// through numpy's pairwise float64 rounding, so it gets a tolerance (one ulp of a typical element ~1e-7).
const SUM_SQ_TOLERANCE = 1e-8;

describe('TorchCpuGenerator against torch.randn (torch 1.13, CPU)', () => {
  for (const ref of fixture.cases) {
    const path = ref.numel >= 16 ? 'AVX2 normal_fill' : 'scalar float64';
    it(`seed ${ref.seed}, shape [${ref.shape}] (${path}${ref.numel >= 16 && ref.numel % 16 ? ', tail recomputed' : ''})`, () => {
      const got = new TorchCpuGenerator(ref.seed).randn(ref.shape);
      expect(got.length).toBe(ref.numel);
      if (ref.values) {
        expect(float32Hex(got)).toEqual(ref.stored_f32_hex);
      } else {
        expect(float32Hex(got.subarray(0, 32))).toEqual(ref.stored_f32_hex.slice(0, 32));
        expect(float32Hex(got.subarray(ref.numel - 32))).toEqual(ref.stored_f32_hex.slice(32));
      }
      const { sum, sumSq } = sums(got);
      expect(sum).toBe(ref.sum_f64);
      expect(Math.abs(sumSq - ref.sum_sq_f64)).toBeLessThan(SUM_SQ_TOLERANCE);
    });
  }

  it('carries state across calls, including the cached second normal of the scalar path', () => {
    // [3] leaves one cached normal; [16] and [1,4,8,8] take the vector path, which ignores the
    // cache; [5] then starts with that cached normal.
    const generator = new TorchCpuGenerator(42);
    for (const ref of fixture.sequential_same_generator_seed42) {
      expect(Array.from(generator.randn(ref.shape)), `shape [${ref.shape}]`).toEqual(ref.values);
    }
  });
});

describe('TorchCpuGenerator', () => {
  it('draws nothing for an empty tensor', () => {
    const generator = new TorchCpuGenerator(7);
    expect(generator.randn([2, 0, 3])).toHaveLength(0);
    expect(generator.randn([20])).toEqual(new TorchCpuGenerator(7).randn([20]));
  });

  it('treats a 0-d shape as one element', () => {
    const scalar = new TorchCpuGenerator(1).randn([]);
    expect(scalar).toHaveLength(1);
    expect(scalar[0]).toBe(new TorchCpuGenerator(1).randn([1])[0]);
  });

  it('rejects invalid shapes', () => {
    expect(() => new TorchCpuGenerator(1).randn([2, -1])).toThrow(RangeError);
    expect(() => new TorchCpuGenerator(1).randn([1.5])).toThrow(RangeError);
  });

  it('draws a full-size SD1.5 latent quickly and with standard-normal moments', () => {
    const generator = new TorchCpuGenerator(3);
    const start = performance.now();
    const latent = generator.randn([1, 4, 128, 128]);
    const elapsedMs = performance.now() - start;
    const { sum, sumSq } = sums(latent);
    const mean = sum / latent.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(sumSq / latent.length - mean * mean - 1)).toBeLessThan(0.03);
    expect(elapsedMs).toBeLessThan(1000);
  });
});
