/**
 * Applies prompt weights to one chunk's text-encoder output in place, as A1111's original
 * emphasis (`EmphasisOriginal.after_transformers`, modules/sd_emphasis.py): each token's
 * embedding is multiplied by its weight, then the whole chunk is rescaled so that the mean of
 * all its values is what it was before (`z *= original_mean / new_mean`).
 *
 * When every weight is 1 nothing is touched, so plain prompts keep diffusers' embeddings bit
 * for bit. Means are summed in float64 then rounded to float32 like torch's float32 result
 * (torch's own summation order differs, so the last bit may too). If the weighted mean is 0
 * (e.g. all weights 0), the rescale is skipped instead of dividing by zero.
 *
 * @param hidden `[tokens, dim]` float32 embeddings of one chunk, row-major
 * @param weights one weight per token (`PromptChunk.weights`)
 */
export function applyTokenWeights(hidden: Float32Array, weights: Float32Array, tokens: number, dim: number): void {
  if (weights.length !== tokens || hidden.length !== tokens * dim) {
    throw new RangeError(
      `applyTokenWeights: expected ${tokens} weights and ${tokens}×${dim} values, got ${weights.length} and ${hidden.length}`,
    );
  }
  if (weights.every((w) => w === 1)) return;

  const originalMean = Math.fround(mean(hidden));
  for (let t = 0; t < tokens; t++) {
    const w = weights[t];
    if (w === 1) continue;
    for (let i = t * dim, end = i + dim; i < end; i++) hidden[i] *= w;
  }
  const newMean = Math.fround(mean(hidden));
  if (newMean === 0 || !Number.isFinite(newMean)) return;
  const scale = Math.fround(originalMean / newMean);
  for (let i = 0; i < hidden.length; i++) hidden[i] *= scale;
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}
