/** "Check inputs", the first stage of the SD3 pipelines: what the request or the model cannot do. */
import { RenderInputError } from '../../errors.js';
import type { Sd3Model } from '../../models/sd3-model.js';
import type { Sd3Params } from './render-params.js';

/** The transformer patchifies 2×2 latent cells: the latent size must be even, the image a multiple of 16. */
const SIZE_MULTIPLE = 16;
const MAX_SEQUENCE_LENGTH = 512;

export function checkSd3Inputs(model: Sd3Model, p: Sd3Params): void {
  if (p.width % SIZE_MULTIPLE !== 0 || p.width <= 0) {
    throw new RenderInputError(
      'input_rejected',
      `width must be a positive multiple of ${SIZE_MULTIPLE} for SD3`,
      'width',
    );
  }
  if (p.height % SIZE_MULTIPLE !== 0 || p.height <= 0) {
    throw new RenderInputError(
      'input_rejected',
      `height must be a positive multiple of ${SIZE_MULTIPLE} for SD3`,
      'height',
    );
  }
  if (p.seeds.length === 0) throw new RenderInputError('input_rejected', 'at least one seed is needed', 'seed');
  if (!Number.isInteger(p.steps) || p.steps < 1) {
    throw new RenderInputError('input_rejected', 'steps must be a positive integer', 'steps');
  }
  if (!Number.isInteger(p.microBatchSize) || p.microBatchSize < 1) {
    throw new RenderInputError('input_rejected', 'microBatchSize must be a positive integer', 'num_images');
  }
  const length = p.maxSequenceLength;
  if (length !== undefined && !(Number.isInteger(length) && length >= 1 && length <= MAX_SEQUENCE_LENGTH)) {
    throw new RenderInputError(
      'input_rejected',
      `max_sequence_length must be 1..${MAX_SEQUENCE_LENGTH}`,
      'max_sequence_length',
    );
  }
  const skip = p.clipSkip ?? 0;
  // hidden_states[-(k + 2)] must exist in both CLIPs (index ≥ 1: index 0 is the token embeddings).
  const deepest = Math.min(model.clipL.hiddenStateCount, model.clipG.hiddenStateCount) - 3;
  if (!Number.isInteger(skip) || skip < 0 || skip > deepest) {
    throw new RenderInputError('input_rejected', `clip_skip must be 0..${deepest} for this SD3 model`, 'clip_skip');
  }
}

/** Image-to-image VAE-encodes its input: the model folder needs a `vae_encoder/`. */
export function checkSd3ImageInputs(
  model: Sd3Model,
  image: { width: number; height: number },
  p: Sd3Params & { strength: number },
) {
  if (!model.vaeEncoder) {
    throw new RenderInputError(
      'input_rejected',
      'this model has no vae_encoder, so it cannot start from an image; ' +
        'install a model folder with vae_encoder/model.onnx',
      'init_image',
    );
  }
  if (image.width !== p.width || image.height !== p.height) {
    throw new RenderInputError(
      'input_rejected',
      `init_image is ${image.width}×${image.height} but the output is ${p.width}×${p.height}; resize it first`,
      'init_image',
    );
  }
  if (!(p.strength > 0 && p.strength <= 1)) {
    throw new RenderInputError('input_rejected', `strength must be > 0 and ≤ 1, got ${p.strength}`, 'strength');
  }
}
