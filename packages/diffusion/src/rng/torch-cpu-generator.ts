import { logAvx2, sincosAvx2 } from './avx-mathfun.js';
import { Mt19937 } from './mt19937.js';
import { fillNormalBlocks } from './normal-fill.js';
import type { RandomSource } from './random-source.js';

const f32 = Math.fround;

/** Below this many elements torch takes the scalar float64 path (aten/src/ATen/native/cpu/DistributionTemplates.h). */
const VECTOR_PATH_MIN_NUMEL = 16;
/** `2.0f * c10::pi<double>` broadcast into a float32 register by `normal_fill_AVX2`. */
const TWO_PI_FLOAT32 = f32(2 * Math.PI);
/** `uniform_real_distribution<float>` keeps 24 bits (float's digits) of one 32-bit draw. */
const FLOAT_MANTISSA_MASK = 0xffffff;
const TWO_POW_MINUS_24 = 2 ** -24;
/** `uniform_real_distribution<double>` keeps 53 bits of a 64-bit draw: 21 from the high word. */
const DOUBLE_HIGH_WORD_MASK = 0x1fffff;
const TWO_POW_32 = 2 ** 32;
const TWO_POW_MINUS_53 = 2 ** -53;

/** Number of elements of `shape`, validating that every dimension is a non-negative integer. */
export function shapeNumel(shape: readonly number[]): number {
  let numel = 1;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) throw new RangeError(`invalid tensor shape [${shape.join(', ')}]`);
    numel *= dim;
  }
  return numel;
}

/**
 * PyTorch's CPU generator: `torch.Generator("cpu").manual_seed(seed)` followed by any number of
 * `torch.randn(shape, generator=g, dtype=torch.float32)` calls, reproduced bit for bit
 * (torch 1.13 on an x86 CPU with AVX2, the common case and the reference build).
 *
 * - 16 or more elements: `normal_fill_AVX2`: one 24-bit float uniform per element, then Box–Muller
 *   on blocks of 16 (cos from the first 8 uniforms' logs and the last 8 as angles, sin into the
 *   last 8) with AVX2 Cephes float32 log/sincos; when numel % 16 != 0, 16 fresh uniforms
 *   recompute the last 16 elements. The full blocks run in WebAssembly (normal-fill.ts), the
 *   rest in TypeScript ({@link boxMuller16}); both give the same bits.
 * - Fewer than 16: `at::normal_distribution<double>` per element, which draws two 53-bit doubles
 *   per pair of normals and caches the second (sin) one in the generator for the next call.
 *
 * The state (MT19937 and the cached normal) carries over between calls, as it does in torch.
 * torch builds without AVX2 (e.g. ARM) use the scalar `normal_fill` with libm's float log/cos/sin
 * instead, whose results differ from these in the last bit for a large share of values.
 */
export class TorchCpuGenerator implements RandomSource {
  private readonly engine: Mt19937;
  /** `next_double_normal_sample_`: the spare sin-normal of the last scalar Box–Muller pair. */
  private cachedDoubleNormal: number | null = null;

  /** @param seed as for `torch.Generator("cpu").manual_seed(seed)`; Kiln's seeds are in [0, 2^32). */
  constructor(seed: number | bigint) {
    this.engine = new Mt19937(seed);
  }

  /** `torch.randn(shape, generator=this, dtype=torch.float32)`, flattened in C order. */
  randn(shape: readonly number[]): Float32Array {
    const out = new Float32Array(shapeNumel(shape));
    if (out.length >= VECTOR_PATH_MIN_NUMEL) {
      this.normalFillAvx2(out);
    } else {
      for (let i = 0; i < out.length; i++) out[i] = this.nextDoubleNormal();
    }
    return out;
  }

  /** `generator->random()`: one 32-bit MT19937 output. */
  private random(): number {
    return this.engine.nextUint32();
  }

  /** `at::uniform_real_distribution<float>(0, 1)`: the low 24 bits of `random()` times 2^-24. */
  private nextUniformFloat(): number {
    return (this.random() & FLOAT_MANTISSA_MASK) * TWO_POW_MINUS_24;
  }

  /**
   * `at::uniform_real_distribution<double>(0, 1)`: the low 53 bits of `random64()` times 2^-53.
   * `random64()` puts the first 32-bit draw in the high word, the second in the low word.
   */
  private nextUniformDouble(): number {
    const high = this.random();
    const low = this.random();
    return ((high & DOUBLE_HIGH_WORD_MASK) * TWO_POW_32 + low) * TWO_POW_MINUS_53;
  }

  /**
   * `at::normal_distribution<double>(0, 1)` rounded to float32 (torch 1.13's DistributionsHelper.h):
   * r = sqrt(-2 log(1 - u2)), θ = 2π u1; returns r cos θ and caches r sin θ for the next call.
   */
  private nextDoubleNormal(): number {
    let normal: number;
    if (this.cachedDoubleNormal !== null) {
      normal = this.cachedDoubleNormal;
      this.cachedDoubleNormal = null;
    } else {
      const u1 = this.nextUniformDouble();
      const u2 = this.nextUniformDouble();
      const radius = Math.sqrt(-2 * Math.log(1 - u2));
      const theta = 2 * Math.PI * u1;
      this.cachedDoubleNormal = radius * Math.sin(theta);
      normal = radius * Math.cos(theta);
    }
    // `normal * std + mean` with std 1, mean 0 (the + 0 turns -0 into +0 as C++ does).
    return f32(normal + 0);
  }

  /** `normal_fill_AVX2(self, mean 0, std 1, generator)`: see the class comment. */
  private normalFillAvx2(data: Float32Array): void {
    const size = data.length;
    const blocks = Math.floor(size / VECTOR_PATH_MIN_NUMEL);
    fillNormalBlocks(this.engine, data, blocks, boxMuller16);
    const tail = size % VECTOR_PATH_MIN_NUMEL;
    if (tail !== 0) {
      // torch draws a uniform for every element first: the tail's are drawn and go unused. Then it
      // recomputes the last 16 values from fresh uniforms.
      for (let i = 0; i < tail; i++) this.random();
      const start = size - VECTOR_PATH_MIN_NUMEL;
      for (let i = start; i < size; i++) data[i] = this.nextUniformFloat();
      boxMuller16(data, start);
    }
  }
}

const sincosScratch = new Float32Array(2);

/**
 * `normal_fill_16_AVX2` in TypeScript, one lane at a time: the uniforms in data[start..start+16)
 * become 16 normals in place. The reference the WebAssembly blocks are checked against, and what
 * finishes the blocks they leave (normal-fill.ts) and the tail.
 */
export function boxMuller16(data: Float32Array, start: number): void {
  for (let j = start; j < start + 8; j++) {
    const u1 = 1 - data[j]; // exact: [0, 1) -> (0, 1] for the log
    const radius = f32(Math.sqrt(-2 * logAvx2(u1)));
    const theta = f32(TWO_PI_FLOAT32 * data[j + 8]);
    sincosAvx2(theta, sincosScratch);
    // `fmadd(n, std, mean)` with std 1, mean 0 is n itself, except that -0 becomes +0.
    data[j] = f32(radius * sincosScratch[1]) + 0;
    data[j + 8] = f32(radius * sincosScratch[0]) + 0;
  }
}
