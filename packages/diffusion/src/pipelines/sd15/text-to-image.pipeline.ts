/**
 * Stable Diffusion 1.5 text-to-image, stage by stage as diffusers' StableDiffusionPipeline:
 * check inputs → encode prompt → plan memory → prepare latents → denoise → decode → postprocess.
 * Images are rendered in micro-batches; each image has its own generator, so its pixels do not
 * depend on which batch it was rendered in.
 */
import type { Sd15Model } from '../../models/sd15-model.js';
import { createScheduler } from '../../schedulers/index.js';
import { checkRenderInputs } from './check-inputs.js';
import { checkControlNets, unetResidualSource } from './controlnet-residuals.js';
import { denoise } from './denoise-loop.js';
import { chunkCount, encodePrompts } from './encode-prompt.js';
import { planMemory } from './memory-plan.js';
import { batchGeometry, renderMicroBatches, startRenderClock } from './micro-batches.js';
import { pureNoiseLatents } from './prepare-latents.js';
import { promptContext } from './prompt-context.js';
import type { TextToImageParams } from './render-params.js';
import type { RenderHooks, RenderResult } from './render-types.js';

export type { TextToImageParams } from './render-params.js';

export async function textToImage(
  model: Sd15Model,
  p: TextToImageParams,
  hooks: RenderHooks = {},
): Promise<RenderResult> {
  const clock = startRenderClock(model);
  checkRenderInputs(model, p, [4], {
    field: 'mask_image',
    message: 'it is an inpainting model: send init_image and mask_image',
  });
  checkControlNets(model, p.controlnets ?? [], p);
  const prompts = await encodePrompts(model, p.prompt, p.negativePrompt, p.clipSkip, p.maxPromptChunks);
  const plan = await planMemory(model, p, { promptChunks: chunkCount(prompts), encodesImage: false });
  const guided = p.cfgScale > 1;

  return renderMicroBatches(model, p, plan, hooks, clock, async (batch) => {
    const scheduler = createScheduler(p.sampler, model.schedulerConfig);
    scheduler.setTimesteps(p.steps);
    const latents = pureNoiseLatents(batch.generators, batch.shape, scheduler);
    const { latents: denoised, unetCalls } = await denoise({
      model,
      scheduler,
      timesteps: scheduler.timesteps,
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
    return { latents: denoised, totalSteps: scheduler.timesteps.length, unetCalls };
  });
}
