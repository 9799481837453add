import { GraphBuilder } from '@kiln/onnx';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A stand-in for diffusers' ONNX safety checker with its exact I/O (`clip_input` [B,3,224,224],
 * `images` [B,H,W,3] → `out_images`, `has_nsfw_concepts` bool [B]) plus a `concept_scores` [B]
 * output. Its "concept score" is the mean of the CLIP-normalised input, i.e. how bright the image
 * is: images brighter than `threshold` are flagged and blacked out, as the real checker does.
 */
export function buildSafetyChecker(threshold: number): GraphBuilder {
  const g = new GraphBuilder('safety_checker');
  g.addInput('clip_input', 'float32', ['batch', 3, 224, 224]);
  g.addInput('images', 'float32', ['batch', 'height', 'width', 3]);
  const score = g.op('ReduceMean', ['clip_input'], { axes: [1, 2, 3], keepdims: 0 });
  const flagged = g.op('Greater', [score, g.constant('float32', [], [threshold])]);
  const keep = g.op('Cast', [g.op('Not', [flagged])], { to: 1 });
  const keepPerImage = g.op('Reshape', [keep, g.constant('int64', [4], [-1, 1, 1, 1])]);
  g.addOutput('out_images', 'float32', ['batch', 'height', 'width', 3], g.op('Mul', ['images', keepPerImage]));
  g.addOutput('has_nsfw_concepts', 'bool', ['batch'], flagged);
  g.addOutput('concept_scores', 'float32', ['batch'], score);
  return g;
}

/** Adds `safety_checker/model.onnx` to a model folder. */
export async function writeSafetyChecker(modelDir: string, threshold: number): Promise<void> {
  await mkdir(join(modelDir, 'safety_checker'), { recursive: true });
  await buildSafetyChecker(threshold).write(join(modelDir, 'safety_checker', 'model.onnx'), {});
}
