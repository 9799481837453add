/** "Check inputs", the first stage of every SD1.5 pipeline: what the request or the model cannot do. */
import { RenderInputError } from '../../errors.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import type { TextToImageParams } from './render-params.js';

/** Size and seeds; the UNet's input channels must be one of `channels` (`hint` says what to send instead). */
export function checkRenderInputs(
  model: Sd15Model,
  p: TextToImageParams,
  channels: readonly number[],
  hint: { field: string; message: string },
): void {
  if (p.width % 8 !== 0 || p.height % 8 !== 0) {
    throw new RenderInputError('input_rejected', 'width and height must be multiples of 8', 'width');
  }
  if (!channels.includes(model.unetInChannels)) {
    throw new RenderInputError(
      'input_rejected',
      `this model's UNet takes ${model.unetInChannels} channels: ${hint.message}`,
      hint.field,
    );
  }
  if (p.seeds.length === 0) throw new RenderInputError('input_rejected', 'at least one seed is needed', 'seed');
}

/** Image-to-image and inpainting VAE-encode their input: the model folder needs a `vae_encoder/`. */
export function checkVaeEncoder(model: Sd15Model, field: string): void {
  if (!model.vaeEncoder) {
    throw new RenderInputError(
      'input_rejected',
      'this model has no vae_encoder, so it cannot start from an image; install a model folder with vae_encoder/model.onnx',
      field,
    );
  }
}

/**
 * diffusers' `get_timesteps`: `init_timestep = min(int(steps × strength), steps)` denoising steps
 * run. Fewer than one is an empty loop, which diffusers refuses too.
 */
export function denoisingStepsFor(steps: number, strength: number): number {
  if (!(strength > 0 && strength <= 1)) {
    throw new RenderInputError('input_rejected', `strength must be > 0 and ≤ 1, got ${strength}`, 'strength');
  }
  const initTimestep = Math.min(Math.floor(steps * strength), steps);
  if (initTimestep < 1) {
    throw new RenderInputError(
      'input_rejected',
      `steps × strength is ${steps * strength}: at least one denoising step is needed; raise steps or strength`,
      'strength',
    );
  }
  return initTimestep;
}

/** The decoded image must already be at the output size (the image decoder resizes it). */
export function checkImageSize(image: { width: number; height: number }, p: TextToImageParams, field: string): void {
  if (image.width !== p.width || image.height !== p.height) {
    throw new RenderInputError(
      'input_rejected',
      `${field} is ${image.width}×${image.height} but the output is ${p.width}×${p.height}; resize it first`,
      field,
    );
  }
}
