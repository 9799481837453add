/**
 * Which engines honour each request field, for the OpenAPI document (`x-kiln-engines` on every
 * property of both request bodies). A schema says what a field accepts; this says what it does:
 * a field an engine refuses, or accepts only at the value that changes nothing, lists no such
 * engine. The compiler keeps the map complete for the SD1.5 and SD3 request types.
 */
import type { Sd15RequestInput, Sd3RequestInput } from './generate-request.schema.js';
import type { ModelFamily } from './model-family.js';

type RequestField = keyof Sd15RequestInput | keyof Sd3RequestInput;

/** The engines that act on a field, and for those that do not, what happens instead. */
export interface FieldEngines {
  engines: readonly ModelFamily[];
  /** Set when an engine accepts the field without acting on it, or refuses some values. */
  note?: string;
}

const BOTH: FieldEngines = { engines: ['sd15', 'sd3'] };
const SD15: FieldEngines = { engines: ['sd15'], note: 'SD1.5 only: POST /generate/sd3 answers 422 naming it.' };
const REFINER: FieldEngines = {
  engines: [],
  note:
    "SDXL's refiner; SD1.5 and SD3 have none and run every step on the base model: use_refiner is accepted " +
    'either way, high_noise_frac only at 0.8 (the default) or 1, else 422.',
};

export const FIELD_ENGINES: Readonly<Record<RequestField, FieldEngines>> = {
  prompt: BOTH,
  negative_prompt: BOTH,
  cfg_scale: BOTH,
  steps: BOTH,
  num_images: BOTH,
  seed: BOTH,
  image_encoding: BOTH,
  width: BOTH,
  height: BOTH,
  sampler: { engines: ['sd15', 'sd3'], note: 'SD1.5: 21 samplers; SD3: FLOW_MATCH_EULER only.' },
  init_image: BOTH,
  strength: BOTH,
  mask_image: SD15,
  outpainting: SD15,
  checkpoint: SD15,
  clip_skip: SD15,
  mask_blur: SD15,
  inpaint_full_res: SD15,
  inpaint_full_res_padding: SD15,
  inpaint_paste_original: SD15,
  vae: SD15,
  loras: SD15,
  textual_inversions: SD15,
  controlnet: SD15,
  controlnet_image: SD15,
  controlnet_conditioning_scale: SD15,
  controlnet_early_stop: SD15,
  controlnet_preprocess: SD15,
  log_prompt: BOTH,
  style_preset: BOTH,
  use_refiner: REFINER,
  high_noise_frac: REFINER,
  prompt_2: { engines: ['sd3'], note: "SD3's second text encoder; POST /generate/sd answers 422 naming it." },
  negative_prompt_2: {
    engines: ['sd3'],
    note: "SD3's second text encoder; POST /generate/sd answers 422 naming it.",
  },
  webhook_url: BOTH,
  webhook_events: BOTH,
  custom_id: BOTH,
};

/** Adds `x-kiln-engines` (and `x-kiln-engines-note`) to every property of a request component. */
export function withEngines(component: Record<string, unknown>): Record<string, unknown> {
  const properties = component.properties as Record<string, Record<string, unknown>>;
  for (const [field, property] of Object.entries(properties)) {
    const info = FIELD_ENGINES[field as RequestField] as FieldEngines | undefined;
    if (!info) throw new Error(`FIELD_ENGINES has no entry for request field ${field}`);
    property['x-kiln-engines'] = [...info.engines];
    if (info.note !== undefined) property['x-kiln-engines-note'] = info.note;
  }
  return component;
}
