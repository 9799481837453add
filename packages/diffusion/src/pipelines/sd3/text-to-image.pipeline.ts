/**
 * Stable Diffusion 3 text-to-image, stage by stage as diffusers' StableDiffusion3Pipeline:
 * check inputs → encode prompt → per micro-batch: prepare latents (`randn([1, 16, H/8, W/8])` per
 * image, unscaled) → denoise (flow-matching Euler) → decode.
 */
import type { Sd3Model } from '../../models/sd3-model.js';
import { randnPerItem } from '../../rng/index.js';
import { FlowMatchEulerDiscreteScheduler } from '../../schedulers/flow-match-euler.scheduler.js';
import type { RenderHooks, RenderResult } from '../sd15/render-types.js';
import { checkSd3Inputs } from './check-inputs.js';
import { sd3Conditioning } from './conditioning.js';
import { denoiseSd3 } from './denoise-loop.js';
import { renderSd3MicroBatches } from './micro-batches.js';
import { encodeSd3Prompts } from './prompts.js';
import type { Sd3Params } from './render-params.js';

export async function sd3TextToImage(model: Sd3Model, p: Sd3Params, hooks: RenderHooks = {}): Promise<RenderResult> {
  checkSd3Inputs(model, p);
  const prompts = await encodeSd3Prompts(model, p);
  const guided = p.cfgScale > 1;

  return renderSd3MicroBatches(model, p, hooks, async (batch) => {
    const scheduler = new FlowMatchEulerDiscreteScheduler(model.schedulerConfig);
    scheduler.setTimesteps(p.steps);
    const { latents, transformerCalls } = await denoiseSd3({
      model,
      scheduler,
      timesteps: scheduler.timesteps,
      latents: randnPerItem(batch.generators, batch.shape),
      shape: batch.shape,
      conditioning: sd3Conditioning(prompts, batch.size, guided),
      cfgScale: p.cfgScale,
      signal: hooks.signal,
      onStep: batch.reportStep,
    });
    return { latents, totalSteps: scheduler.timesteps.length, transformerCalls };
  });
}
