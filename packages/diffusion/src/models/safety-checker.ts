/**
 * Runs a model folder's `safety_checker/model.onnx` (diffusers' ONNX export I/O) over rendered
 * images, one image per call as diffusers' ONNX pipeline does. A flagged image is removed: its
 * pixels are dropped and the client gets `image_b64: null`, `removed_for_safety: true`.
 */
import { clipPixelValues } from '../image/clip-preprocess.js';
import type { RenderedImage } from '../pipelines/sd15/render-types.js';
import type { OnnxModel } from './onnx-session.js';

/** Output names a checker may use for a per-image score (diffusers' export has none: then null). */
const SCORE_OUTPUTS = ['concept_scores', 'safety_score', 'nsfw_score'];

export async function checkImages(checker: OnnxModel, images: readonly RenderedImage[]): Promise<RenderedImage[]> {
  const scoreOutput = SCORE_OUTPUTS.find((name) => checker.outputs.has(name));
  const checked: RenderedImage[] = [];
  for (const image of images) {
    const clipInput = await clipPixelValues(image.pixels, image.width, image.height);
    const asFloat = Float32Array.from(image.pixels, (v) => v / 255);
    const out = await checker.run(
      {
        clip_input: { data: clipInput, dims: [1, 3, 224, 224] },
        images: { data: asFloat, dims: [1, image.height, image.width, 3] },
      },
      ['has_nsfw_concepts', ...(scoreOutput ? [scoreOutput] : [])],
    );
    const flagged = out.has_nsfw_concepts.data[0] !== 0;
    const safetyScore = scoreOutput ? out[scoreOutput].data[0] : null;
    checked.push(
      flagged
        ? { ...image, pixels: new Uint8Array(0), removedForSafety: true, safetyScore }
        : { ...image, safetyScore },
    );
  }
  return checked;
}
