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

/** The fields both families' job requests have. */
type CommonJobRequest = Omit<Sd3JobRequest, 'sampler' | 'prompt_2' | 'negative_prompt_2'>;

export type FamilyJobRequest = { family: 'sd15'; request: Sd15JobRequest } | { family: 'sd3'; request: Sd3JobRequest };

export function toJobRequest(request: GenerateRequest): FamilyJobRequest {
  // Optional fields are set only when given, and nothing is spread into a literal: this runs on
  // every submission (CONTRIBUTING.md, Performance).
  const parsed = applyStylePreset(request);
  const common: CommonJobRequest = {
    prompt: parsed.prompt,
    negative_prompt: parsed.negative_prompt ?? '',
    cfg_scale: parsed.cfg_scale,
    steps: parsed.steps,
    width: parsed.width,
    height: parsed.height,
    image_encoding: parsed.image_encoding,
    log_prompt: parsed.log_prompt,
  };
  if (parsed.strength !== undefined) common.strength = parsed.strength;
  if (parsed.family === 'sd3') {
    const sd3: Sd3JobRequest = Object.assign(common, { sampler: parsed.sampler });
    if (parsed.prompt_2 !== undefined) sd3.prompt_2 = parsed.prompt_2;
    if (parsed.negative_prompt_2 !== undefined) sd3.negative_prompt_2 = parsed.negative_prompt_2;
    return { family: 'sd3', request: sd3 };
  }
  const D = REQUEST_DEFAULTS;
  const sd15: Sd15JobRequest = Object.assign(common, {
    sampler: canonicalSd15Sampler(parsed.sampler),
    clip_skip: parsed.clip_skip,
    outpainting: parsed.outpainting,
    mask_blur: parsed.mask_blur ?? D.mask_blur,
    inpaint_full_res: parsed.inpaint_full_res ?? D.inpaint_full_res,
    inpaint_full_res_padding: parsed.inpaint_full_res_padding ?? D.inpaint_full_res_padding,
    inpaint_paste_original: parsed.inpaint_paste_original ?? D.inpaint_paste_original,
  });
  if (parsed.checkpoint !== undefined) sd15.checkpoint = parsed.checkpoint;
  if (parsed.vae !== undefined) sd15.vae = parsed.vae;
  if (parsed.loras !== undefined) sd15.loras = parsed.loras;
  if (parsed.textual_inversions !== undefined) sd15.textual_inversions = parsed.textual_inversions;
  const controlnets = toJobControlNets(parsed);
  if (controlnets) sd15.controlnets = controlnets;
  return { family: 'sd15', request: sd15 };
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
