/**
 * Float32 arithmetic helpers on top of JavaScript's float64.
 *
 * One float32 add, subtract, multiply, divide or square root done in float64 and then rounded
 * with `Math.fround` gives the correctly rounded float32 result (float64 has more than
 * 2·24 + 2 bits, so the double rounding is harmless). A fused multiply-add has three inputs
 * and needs the extra care below.
 */

const f32 = Math.fround;

/**
 * `fmaf(a, b, c)` for float32 inputs: `a * b + c` rounded once to float32, as the
 * `vfmadd…ps` instructions compute it.
 *
 * `a * b` is exact in float64 (24 + 24 bits). The float64 sum may round, and rounding that
 * again to float32 can only go wrong when the float64 sum lands exactly halfway between two
 * float32 values: then the discarded remainder decides the direction.
 */
export function fmaf32(a: number, b: number, c: number): number {
  const product = a * b;
  const sum = product + c;
  const rounded = f32(sum);
  if (rounded === sum) return rounded;
  // `sum` is a float32 midpoint exactly when its mirror image across it is also a float32.
  const mirrored = 2 * sum - rounded;
  if (f32(mirrored) !== mirrored) return rounded;
  // Knuth's two-sum: the exact remainder the float64 addition dropped.
  const cPart = sum - product;
  const remainder = product - (sum - cPart) + (c - cPart);
  if (remainder === 0) return rounded; // a true tie: fround already rounded it to even
  return remainder > 0 ? Math.max(rounded, mirrored) : Math.min(rounded, mirrored);
}
