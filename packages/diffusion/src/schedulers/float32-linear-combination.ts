/**
 * Elementwise float32 tensor arithmetic in the exact order PyTorch evaluates an expression such as
 * `c0 * x - c1 * y + c2 * z` (scalars are 0-dim float32 tensors): every product is rounded to
 * float32, then the running sum is rounded after each addition, left to right.
 */

const f32 = Math.fround;

/** One `coefficient * tensor` term of a linear combination. */
export type ScaledTensor = readonly [coefficient: number, tensor: Float32Array];

/**
 * `terms[0][0] * terms[0][1] + terms[1][0] * terms[1][1] + ...` elementwise, each product and each
 * partial sum rounded to float32. A subtraction `a - c * y` is the term `[-c, y]`: negating a float32
 * is exact, so the result is bit-identical.
 */
export function linearCombinationF32(terms: readonly ScaledTensor[]): Float32Array {
  if (terms.length === 0) throw new Error('linearCombinationF32: no terms');
  const length = terms[0][1].length;
  for (const [, tensor] of terms) {
    if (tensor.length !== length) throw new Error('linearCombinationF32: tensors differ in length');
  }
  const out = new Float32Array(length);
  const [c0, x0] = terms[0];
  for (let i = 0; i < length; i++) out[i] = f32(c0 * x0[i]);
  for (let k = 1; k < terms.length; k++) {
    const [c, x] = terms[k];
    for (let i = 0; i < length; i++) out[i] = f32(out[i] + f32(c * x[i]));
  }
  return out;
}

/** `(a - b) * scale` elementwise in float32, e.g. diffusers' `(1.0 / r0) * (m0 - m1)`. */
export function scaledDifferenceF32(a: Float32Array, b: Float32Array, scale: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f32(scale * f32(a[i] - b[i]));
  return out;
}

/** `(a - b) / divisor` elementwise in float32 (true division, as torch does for float32). */
export function differenceOverF32(a: Float32Array, b: Float32Array, divisor: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = f32(f32(a[i] - b[i]) / divisor);
  return out;
}
