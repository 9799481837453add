/**
 * Stable Diffusion 1.5 image-to-image as diffusers' StableDiffusionImg2ImgPipeline:
 * check inputs → encode prompt → plan memory → encode image → per micro-batch: prepare latents (posterior
 * sample, then noise, forward-noised to the first timestep of the shortened schedule) → denoise →
 * decode.
 *
 * Each image's generator draws, in order: one latent-shaped normal for the VAE posterior sample,
 * the noise, then whatever its sampler draws per step; so an image equals diffusers' for the same
 * seed and is the same alone or in a batch.
 */
import type { RgbImage } from '../../image/raster.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import { createScheduler } from '../../schedulers/index.js';
import { checkImageSize, checkRenderInputs, checkVaeEncoder, denoisingStepsFor } from './check-inputs.js';
import { checkControlNets, unetResidualSource } from './controlnet-residuals.js';
import { denoise } from './denoise-loop.js';
import { chunkCount, encodePrompts } from './encode-prompt.js';
import { planMemory } from './memory-plan.js';
import { batchGeometry, renderMicroBatches, startRenderClock } from './micro-batches.js';
import { noisedImageLatents } from './prepare-latents.js';
import { promptContext } from './prompt-context.js';
import type { RenderParams } from './render-params.js';
import type { RenderHooks, RenderResult } from './render-types.js';
import { startAtStrength } from './strength-schedule.js';
import { encodeLatentDistribution, rgbToVaeInput, sampleImageLatents } from './vae-encode.js';

export interface ImageToImageParams extends RenderParams {
  /** The source image, already at width × height (see decodeInitImage). */
  initImage: RgbImage;
  /** How much of the image to repaint, > 0 and ≤ 1: `int(steps × strength)` steps run. */
  strength: number;
}

export async function imageToImage(
  model: Sd15Model,
  p: ImageToImageParams,
  hooks: RenderHooks = {},
): Promise<RenderResult> {
  const clock = startRenderClock(model);
  checkRenderInputs(model, p, [4], {
    field: 'init_image',
    message: 'an inpainting UNet renders image-to-image through the inpainting pipeline (a full mask)',
  });
  checkVaeEncoder(model, 'init_image');
  checkImageSize(p.initImage, p, 'init_image');
  denoisingStepsFor(p.steps, p.strength);
  checkControlNets(model, p.controlnets ?? [], p);

  const prompts = await encodePrompts(model, p.prompt, p.negativePrompt, p.clipSkip, p.maxPromptChunks);
  const plan = await planMemory(model, p, { promptChunks: chunkCount(prompts), encodesImage: true });
  const guided = p.cfgScale > 1;
  const initInput = rgbToVaeInput(p.initImage);
  const distribution = await encodeLatentDistribution(model, initInput, p.width, p.height, plan.tileLatent);

  return renderMicroBatches(model, p, plan, hooks, clock, async (batch) => {
    const scheduler = createScheduler(p.sampler, model.schedulerConfig);
    scheduler.setTimesteps(p.steps);
    const timesteps = startAtStrength(scheduler, p.steps, p.strength);
    const imageLatents = sampleImageLatents(model, distribution, batch.generators);
    const { latents } = noisedImageLatents(scheduler, imageLatents, batch.generators, batch.shape, timesteps[0]);
    const { latents: denoised, unetCalls } = await denoise({
      model,
      scheduler,
      timesteps,
      latents,
      shape: batch.shape,
      context: promptContext(prompts, batch.size, guided),
      cfgScale: p.cfgScale,
      generators: batch.generators,
      residuals: unetResidualSource(model, p.controlnets ?? [], batchGeometry(p, batch.size, guided)),
      signal: hooks.signal,
      onStep: batch.reportStep,
      brownianNoise: batch.brownianNoise,
    });
    return { latents: denoised, totalSteps: timesteps.length, unetCalls };
  });
}
