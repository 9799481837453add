import { philox4x32Round10 } from './philox4x32.js';
import type { RandomSource } from './random-source.js';
import { shapeNumel } from './torch-cpu-generator.js';

const f32 = Math.fround;
const TWO_POW_64 = 2n ** 64n;

/**
 * Box–Muller scales as AUTOMATIC1111's numpy code holds them: float32 constants
 * (`np.float32(2.3283064e-10)` is exactly 2^-32; the 2π one is a float64 product rounded to
 * float32), while `uint32 array * float32 array` promotes to float64, so the arithmetic is float64.
 */
const UNIFORM_SCALE = f32(2.3283064e-10);
const ANGLE_SCALE = f32(2.3283064e-10 * 6.2831855);
/** Halving a float32 is exact, so these are the values the float64 additions see. */
const UNIFORM_HALF_STEP = UNIFORM_SCALE / 2;
const ANGLE_HALF_STEP = ANGLE_SCALE / 2;

/**
 * AUTOMATIC1111's "NV" noise source (modules/rng_philox.py): a CPU imitation of
 * `torch.randn(shape, device="cuda")` after `torch.manual_seed(seed)`, for users whose seeds
 * come from a GPU.
 *
 * Element i of the n-th `randn` call (n = 0, 1, ...) is Philox4x32-10 of the counter
 * (n, 0, i, 0) under the key (seed low word, seed high word); of the four output words, x and y
 * give u = (x + 1/2)·2^-32 and v = (y + 1/2)·2^-32·2π, and the element is sqrt(-2 ln u)·sin v,
 * computed in float64 and rounded to float32. Each call advances the counter's first word by one.
 */
export class PhiloxGenerator implements RandomSource {
  private readonly keyLow: number;
  private readonly keyHigh: number;
  /** Number of `randn` calls made so far: the first counter word (uint32). */
  private offset = 0;
  private readonly block = new Uint32Array(4);

  /** @param seed in [0, 2^64), as `rng_philox.Generator(seed)`; Kiln's seeds are in [0, 2^32). */
  constructor(seed: number | bigint) {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
      throw new RangeError(`seed must be a safe integer or a bigint, got ${seed}`);
    }
    const big = BigInt(seed);
    if (big < 0n || big >= TWO_POW_64) throw new RangeError(`seed ${big} is outside [0, 2^64)`);
    this.keyLow = Number(BigInt.asUintN(32, big));
    this.keyHigh = Number(big >> 32n);
  }

  /** The next `randn` draw, as `rng_philox.Generator.randn(shape)`, flattened in C order. */
  randn(shape: readonly number[]): Float32Array {
    const out = new Float32Array(shapeNumel(shape));
    const block = this.block;
    for (let i = 0; i < out.length; i++) {
      philox4x32Round10(this.offset, 0, i >>> 0, 0, this.keyLow, this.keyHigh, block);
      const u = block[0] * UNIFORM_SCALE + UNIFORM_HALF_STEP;
      const v = block[1] * ANGLE_SCALE + ANGLE_HALF_STEP;
      // Only the sin half of the Box–Muller pair is kept; words 2 and 3 are discarded.
      out[i] = f32(Math.sqrt(-2 * Math.log(u)) * Math.sin(v));
    }
    this.offset = (this.offset + 1) >>> 0;
    return out;
  }
}
