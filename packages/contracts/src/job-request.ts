/**
 * From a validated HTTP request to the request a job carries: the one normalisation every intake
 * path (the API's routes, batch items, `kiln render`) goes through. The style preset is applied to
 * the prompts, defaults the schema leaves conditional are applied, the sampler is made canonical,
 * and the fields that do not describe the image (seed, images, webhook, custom_id) are left to the
 * job's envelope. The SDXL-only fields (`use_refiner`, `high_noise_frac`) validate only at values
 * that change nothing here, so they have nothing to carry.
 */
import { toJobControlNets } from './controlnet-fields.js';
import type { GenerateRequest } from './generate-request.schema.js';
import type { Sd15JobRequest, Sd3JobRequest } from './render-job.schema.js';
import { REQUEST_DEFAULTS } from './request-fields.js';
import { canonicalSd15Sampler } from './samplers.js';
import { applyStylePreset } from './style-presets.js';

export type FamilyJobRequest = { family: 'sd15'; request: Sd15JobRequest } | { family: 'sd3'; request: Sd3JobRequest };

export function toJobRequest(request: GenerateRequest): FamilyJobRequest {
  const parsed = applyStylePreset(request);
  const common = {
    prompt: parsed.prompt,
    negative_prompt: parsed.negative_prompt ?? '',
    cfg_scale: parsed.cfg_scale,
    steps: parsed.steps,
    width: parsed.width,
    height: parsed.height,
    image_encoding: parsed.image_encoding,
    ...(parsed.strength !== undefined && { strength: parsed.strength }),
    log_prompt: parsed.log_prompt,
  };
  if (parsed.family === 'sd3') {
    const second = {
      ...(parsed.prompt_2 !== undefined && { prompt_2: parsed.prompt_2 }),
      ...(parsed.negative_prompt_2 !== undefined && { negative_prompt_2: parsed.negative_prompt_2 }),
    };
    return { family: 'sd3', request: { ...common, sampler: parsed.sampler, ...second } };
  }
  const D = REQUEST_DEFAULTS;
  const controlnets = toJobControlNets(parsed);
  return {
    family: 'sd15',
    request: {
      ...common,
      sampler: canonicalSd15Sampler(parsed.sampler),
      clip_skip: parsed.clip_skip,
      ...(parsed.checkpoint !== undefined && { checkpoint: parsed.checkpoint }),
      ...(parsed.vae !== undefined && { vae: parsed.vae }),
      ...(parsed.loras !== undefined && { loras: parsed.loras }),
      ...(parsed.textual_inversions !== undefined && { textual_inversions: parsed.textual_inversions }),
      outpainting: parsed.outpainting,
      mask_blur: parsed.mask_blur ?? D.mask_blur,
      inpaint_full_res: parsed.inpaint_full_res ?? D.inpaint_full_res,
      inpaint_full_res_padding: parsed.inpaint_full_res_padding ?? D.inpaint_full_res_padding,
      inpaint_paste_original: parsed.inpaint_paste_original ?? D.inpaint_paste_original,
      ...(controlnets && { controlnets }),
    },
  };
}

const PROMPT_FIELDS = ['prompt', 'negative_prompt', 'prompt_2', 'negative_prompt_2'] as const;

/**
 * A job's request as it may be kept in records that outlive the job (a result's manifest): without
 * its prompts unless the request's `log_prompt` allows them.
 */
export function recordableRequest(request: Sd15JobRequest | Sd3JobRequest): Record<string, unknown> {
  if (request.log_prompt) return { ...request };
  return Object.fromEntries(
    Object.entries(request).filter(([field]) => !(PROMPT_FIELDS as readonly string[]).includes(field)),
  );
}
