/** The "prepare latents" stage: where denoising starts from. */
import { randnPerItem, type RandomSource } from '../../rng/index.js';
import type { Scheduler } from '../../schedulers/index.js';

/**
 * Text-to-image (and inpainting at strength 1): each image's first draw, times the scheduler's
 * `init_noise_sigma` (diffusers' `prepare_latents`).
 */
export function pureNoiseLatents(
  generators: readonly RandomSource[],
  shape: readonly number[],
  scheduler: Scheduler,
): Float32Array {
  const latents = randnPerItem(generators, shape);
  return scaleByInitSigma(latents, scheduler);
}

export function scaleByInitSigma(latents: Float32Array, scheduler: Scheduler): Float32Array {
  const sigma = Math.fround(scheduler.initNoiseSigma);
  if (sigma !== 1) for (let i = 0; i < latents.length; i++) latents[i] = Math.fround(latents[i] * sigma);
  return latents;
}

/**
 * Image-to-image: the image latents forward-noised to the first timestep of the loop,
 * `scheduler.add_noise(image_latents, noise, timesteps[0])` with noise drawn from each image's
 * generator after its posterior sample.
 */
export function noisedImageLatents(
  scheduler: Scheduler,
  imageLatents: Float32Array,
  generators: readonly RandomSource[],
  shape: readonly number[],
  firstTimestep: number,
): { latents: Float32Array; noise: Float32Array } {
  const noise = randnPerItem(generators, shape);
  return { latents: scheduler.addNoise(imageLatents, noise, firstTimestep), noise };
}
