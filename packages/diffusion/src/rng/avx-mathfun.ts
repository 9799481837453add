/**
 * One lane of PyTorch's AVX2 `log256_ps` and `sincos256_ps` (aten/src/ATen/native/cpu/avx_mathfun.h,
 * Giovanni Garberoglio's AVX port of Julien Pommier's Cephes-based sse_mathfun), in float32.
 *
 * These are what `torch.randn` uses for float32 tensors of 16 or more elements on x86 CPUs with
 * AVX2 (`normal_fill_AVX2`). They are not correctly rounded, so `Math.log`/`Math.cos` cannot stand
 * in for them. The file is compiled with `-mavx2 -mfma` and GCC's default `-ffp-contract=fast`,
 * and the intrinsics are plain vector `*` and `+`, so GCC fuses a multiply into the add or
 * subtract that uses it, taking the multiply that comes first in the source. Every fused pair
 * below is marked; the torch 1.13 reference in fixtures/rng/torch-randn.json matches this
 * contraction pattern bit for bit and no other. (Without any contraction, as a compiler that does
 * not fuse would build it, about 2% of the reference values come out one ulp off.)
 */
import { fmaf32 } from './float32-math.js';

const f32 = Math.fround;

const bitsView = new DataView(new ArrayBuffer(4));

// ---- log256_ps constants (Cephes logf) -------------------------------------------------------
// eslint-disable-next-line no-loss-of-precision -- Cephes' constant as written; f32 rounds it anyway
const SQRT_HALF = f32(0.707106781186547524);
const LOG_P0 = f32(7.0376836292e-2);
const LOG_P1 = f32(-1.151461031e-1);
const LOG_P2 = f32(1.167699874e-1);
const LOG_P3 = f32(-1.2420140846e-1);
const LOG_P4 = f32(1.4249322787e-1);
const LOG_P5 = f32(-1.6668057665e-1);
const LOG_P6 = f32(2.0000714765e-1);
const LOG_P7 = f32(-2.4999993993e-1);
const LOG_P8 = f32(3.3333331174e-1);
const LOG_Q1 = f32(-2.1219444e-4);
const LOG_Q2 = f32(0.693359375);
const MIN_NORMAL = 2 ** -126;
const FLOAT_ONE_HALF_BITS = 0x3f000000;
const EXPONENT_MASK = 0x7f800000;

/**
 * `log256_ps` on one float32 lane: natural log, NaN for x <= 0, subnormals clamped to the
 * smallest normal as the original does.
 */
export function logAvx2(x: number): number {
  if (x <= 0) return NaN;
  x = Math.max(x, MIN_NORMAL);
  bitsView.setFloat32(0, x);
  const bits = bitsView.getUint32(0);
  let exponent = (bits >>> 23) - 0x7f + 1; // small integers: exact in float32
  // Keep the mantissa, with the exponent of 0.5: m in [0.5, 1).
  bitsView.setUint32(0, (bits & ~EXPONENT_MASK) | FLOAT_ONE_HALF_BITS);
  let m = bitsView.getFloat32(0);
  // Cephes: if m < sqrt(1/2) { e -= 1; m = 2m - 1 } else { m = m - 1 }.
  let addBack = 0;
  if (m < SQRT_HALF) {
    addBack = m;
    exponent -= 1;
  }
  m = f32(f32(m - 1) + addBack);

  const z = f32(m * m);
  let y = LOG_P0;
  y = fmaf32(y, m, LOG_P1); // fused
  y = fmaf32(y, m, LOG_P2); // fused
  y = fmaf32(y, m, LOG_P3); // fused
  y = fmaf32(y, m, LOG_P4); // fused
  y = fmaf32(y, m, LOG_P5); // fused
  y = fmaf32(y, m, LOG_P6); // fused
  y = fmaf32(y, m, LOG_P7); // fused
  y = fmaf32(y, m, LOG_P8); // fused
  y = f32(y * m);
  // `y = y * z; y = y + e * q1`: the y*z product comes first, so it is the one fused.
  y = fmaf32(y, z, f32(exponent * LOG_Q1));
  y = f32(y - z * 0.5); // z * 0.5 is exact, so fused or not is the same
  // e * q2 is exact (q2 has 9 significant bits), so one rounding per add either way.
  return f32(f32(m + y) + exponent * LOG_Q2);
}

// ---- sincos256_ps constants (Cephes sinf/cosf) -----------------------------------------------
const MINUS_DP1 = f32(-0.78515625);
const MINUS_DP2 = f32(-2.4187564849853515625e-4);
// eslint-disable-next-line no-loss-of-precision -- Cephes' constant as written; f32 rounds it anyway
const MINUS_DP3 = f32(-3.77489497744594108e-8);
const SIN_P0 = f32(-1.9515295891e-4);
const SIN_P1 = f32(8.3321608736e-3);
const SIN_P2 = f32(-1.6666654611e-1);
const COS_P0 = f32(2.443315711809948e-5);
const COS_P1 = f32(-1.388731625493765e-3);
const COS_P2 = f32(4.166664568298827e-2);
const FOUR_OVER_PI = f32(1.27323954473516);

/**
 * `sincos256_ps` on one float32 lane, for |x| < 2^31 · π/4. Writes sin(x) to `out[offset]` and
 * cos(x) to `out[offset + 1]` (a Float32Array, so the stores need no further rounding).
 */
export function sincosAvx2(x: number, out: Float32Array, offset = 0): void {
  const negative = x < 0;
  x = Math.abs(x);
  // Octant: j = (trunc(|x| * 4/π) + 1) & ~1, an even integer.
  const octant = (Math.trunc(f32(x * FOUR_OVER_PI)) + 1) & ~1;
  const flipSin = negative !== ((octant & 4) !== 0);
  const flipCos = ((octant - 2) & 4) === 0;
  const sinUsesSinPoly = (octant & 2) === 0;

  // Cody–Waite reduction x - j·π/4 in three parts; each product is fused into its add.
  x = fmaf32(octant, MINUS_DP1, x);
  x = fmaf32(octant, MINUS_DP2, x);
  x = fmaf32(octant, MINUS_DP3, x);
  const z = f32(x * x);

  // cos polynomial on [-π/4, π/4]: 1 - z/2 + z²·(c2 + z·(c1 + z·c0)).
  let cosPoly = fmaf32(COS_P0, z, COS_P1); // fused
  cosPoly = fmaf32(cosPoly, z, COS_P2); // fused
  cosPoly = f32(cosPoly * z);
  // `y = y * z; y = y - z * 0.5`: the y*z product comes first, so it is the one fused.
  cosPoly = fmaf32(cosPoly, z, -f32(z * 0.5));
  cosPoly = f32(cosPoly + 1);

  // sin polynomial: x + x·z·(s2 + z·(s1 + z·s0)).
  let sinPoly = fmaf32(SIN_P0, z, SIN_P1); // fused
  sinPoly = fmaf32(sinPoly, z, SIN_P2); // fused
  sinPoly = f32(sinPoly * z);
  sinPoly = fmaf32(sinPoly, x, x); // fused

  const sin = sinUsesSinPoly ? sinPoly : cosPoly;
  const cos = sinUsesSinPoly ? cosPoly : sinPoly;
  out[offset] = flipSin ? -sin : sin;
  out[offset + 1] = flipCos ? -cos : cos;
}
