/**
 * Stable Diffusion 3 image-to-image as diffusers' StableDiffusion3Img2ImgPipeline:
 * check inputs → encode prompt → encode image → per micro-batch: prepare latents → denoise → decode.
 *
 * Where the loop starts (`get_timesteps`): `t_start = int(max(N − min(N · strength, N), 0))` in
 * floating point (not SD1.5's integer `int(N · strength)`), and the scheduler's begin index is set
 * there. Each image's generator draws, in order: the VAE posterior sample, then the noise; the
 * initial latents are `scale_noise(image_latents, t, noise) = σ·noise + (1 − σ)·image_latents`.
 */
import type { Sd3Model } from '../../models/sd3-model.js';
import { randnPerItem } from '../../rng/index.js';
import { FlowMatchEulerDiscreteScheduler } from '../../schedulers/flow-match-euler.scheduler.js';
import type { RenderHooks, RenderResult } from '../sd15/render-types.js';
import { checkSd3ImageInputs, checkSd3Inputs } from './check-inputs.js';
import { sd3Conditioning } from './conditioning.js';
import { denoiseSd3 } from './denoise-loop.js';
import { renderSd3MicroBatches } from './micro-batches.js';
import { encodeSd3Prompts } from './prompts.js';
import type { Sd3ImageToImageParams } from './render-params.js';
import { encodePosterior, sampleSd3ImageLatents } from './vae.js';

/** The first schedule index image-to-image runs (diffusers' `get_timesteps`, float arithmetic as Python's). */
export function sd3StartIndex(steps: number, strength: number): number {
  const initTimestep = Math.min(steps * strength, steps);
  return Math.trunc(Math.max(steps - initTimestep, 0));
}

export async function sd3ImageToImage(
  model: Sd3Model,
  p: Sd3ImageToImageParams,
  hooks: RenderHooks = {},
): Promise<RenderResult> {
  checkSd3Inputs(model, p);
  checkSd3ImageInputs(model, p.initImage, p);
  const prompts = await encodeSd3Prompts(model, p);
  const guided = p.cfgScale > 1;
  const posterior = await encodePosterior(model, p.initImage);

  return renderSd3MicroBatches(model, p, hooks, async (batch) => {
    const scheduler = new FlowMatchEulerDiscreteScheduler(model.schedulerConfig);
    scheduler.setTimesteps(p.steps);
    const start = sd3StartIndex(p.steps, p.strength);
    scheduler.setBeginIndex(start);
    const timesteps = scheduler.timesteps.slice(start);
    const imageLatents = sampleSd3ImageLatents(model, posterior, batch.generators);
    const noise = randnPerItem(batch.generators, batch.shape);
    const { latents, transformerCalls } = await denoiseSd3({
      model,
      scheduler,
      timesteps,
      latents: scheduler.scaleNoise(imageLatents, noise, timesteps[0]),
      shape: batch.shape,
      conditioning: sd3Conditioning(prompts, batch.size, guided),
      cfgScale: p.cfgScale,
      signal: hooks.signal,
      onStep: batch.reportStep,
    });
    return { latents, totalSteps: timesteps.length, transformerCalls };
  });
}
