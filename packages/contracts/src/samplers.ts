/**
 * Sampler names, exactly as OctoAI's `ImageGenerationRequest.sampler` spells them (docs/generate.md, the
 * spec's 21 `Scheduler` values). Two are aliases: `LMS` = `KLMS` and `K_HEUN` = `HEUN`. `LCM` is for
 * LCM-distilled weights (docs/samplers.md).
 */
export const SD15_SAMPLERS = [
  'DDIM',
  'DDPM',
  'PNDM',
  'KLMS',
  'LMS',
  'HEUN',
  'K_HEUN',
  'K_EULER',
  'K_EULER_ANCESTRAL',
  'DPM_SOLVER_MULTISTEP',
  'DPM_PLUS_PLUS_2M_KARRAS',
  'DPM_PLUS_PLUS_2M_SDE',
  'DPM_PLUS_PLUS_2M_SDE_KARRAS',
  'DPM_SINGLE',
  'DPM_2',
  'DPM_2_KARRAS',
  'DPM_2_ANCESTRAL',
  'DPM_2_ANCESTRAL_KARRAS',
  'DPM_PLUS_PLUS_SDE_KARRAS',
  'UNI_PC',
  'LCM',
] as const;

/** A sampler accepted by `POST /generate/sd`. */
export type Sd15Sampler = (typeof SD15_SAMPLERS)[number];

/**
 * The most steps `LCM` takes: diffusers' `LCMScheduler` picks its timesteps from the
 * `original_inference_steps` (50) of the distillation schedule, so it cannot run more.
 */
export const LCM_MAX_STEPS = 50;

/** The sampler a SD1.5 request gets when it names none. */
export const DEFAULT_SD15_SAMPLER: Sd15Sampler = 'DDIM';

/**
 * SD3 is a rectified-flow model: the only sampler is the flow-matching Euler one
 * (diffusers' `FlowMatchEulerDiscreteScheduler`). Any other name is a 422.
 */
export const SD3_SAMPLERS = ['FLOW_MATCH_EULER'] as const;

/** A sampler accepted by `POST /generate/sd3`. */
export type Sd3Sampler = (typeof SD3_SAMPLERS)[number];

/** The sampler a SD3 request gets when it names none (the only one). */
export const DEFAULT_SD3_SAMPLER: Sd3Sampler = 'FLOW_MATCH_EULER';

/** SD1.5 sampler names that are other spellings of another name in {@link SD15_SAMPLERS}. */
export const SD15_SAMPLER_ALIASES: Readonly<Partial<Record<Sd15Sampler, Sd15Sampler>>> = {
  LMS: 'KLMS',
  K_HEUN: 'HEUN',
};

/** The canonical name of a SD1.5 sampler: aliases (`LMS`, `K_HEUN`) map to `KLMS`, `HEUN`. */
export function canonicalSd15Sampler(sampler: Sd15Sampler): Sd15Sampler {
  return SD15_SAMPLER_ALIASES[sampler] ?? sampler;
}
