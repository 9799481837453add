/**
 * Classifier-free guidance over a UNet output batched as [uncond × B, text × B]:
 * ε = ε_uncond + s · (ε_text − ε_uncond), written into a new B-sized array.
 */
export function applyGuidance(noisePred: Float32Array, scale: number): Float32Array {
  const half = noisePred.length / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const uncond = noisePred[i];
    out[i] = uncond + scale * (noisePred[half + i] - uncond);
  }
  return out;
}

/** Two copies of `x` one after the other (the latents for the uncond and text halves). */
export function duplicateBatch(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length * 2);
  out.set(x, 0);
  out.set(x, x.length);
  return out;
}
