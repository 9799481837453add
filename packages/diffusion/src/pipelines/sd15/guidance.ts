/**
 * Classifier-free guidance over a UNet output batched as [uncond × B, text × B]:
 * ε = ε_uncond + s · (ε_text − ε_uncond), written over the uncond half, which is returned (a view
 * of `noisePred`: no allocation, no copy). The values are those an out-of-place loop would store.
 */
export function applyGuidanceInPlace(noisePred: Float32Array, scale: number): Float32Array {
  const half = noisePred.length / 2;
  for (let i = 0; i < half; i++) {
    const uncond = noisePred[i];
    noisePred[i] = uncond + scale * (noisePred[half + i] - uncond);
  }
  return noisePred.subarray(0, half);
}
