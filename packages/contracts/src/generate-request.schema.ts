import { z } from 'zod';
import {
  controlNetIssues,
  sd15ControlNetFieldsRejectedBySd3,
  sd15ControlNetRequestFields,
} from './controlnet-fields.js';
import { VALIDATION_PARSE_PARAMS } from './issue-messages.js';
import type { ModelFamily } from './model-family.js';
import {
  commonRequestFields,
  nullMeansAbsent,
  REQUEST_DEFAULTS,
  REQUEST_LIMITS,
  sd15InpaintFieldsRejectedBySd3,
  sd15InpaintRequestFields,
  sd15OnlyFieldsRejectedBySd3,
  sd15OnlyRequestFields,
  sd3SecondPromptFields,
  secondPromptFieldsRejectedBySd15,
} from './request-fields.js';
import {
  ANY_RESOLUTION_LIMITS,
  DEFAULT_RESOLUTION,
  formatResolution,
  isAllowedResolution,
  RESOLUTIONS,
} from './resolutions.js';
import { DEFAULT_SD15_SAMPLER, DEFAULT_SD3_SAMPLER, LCM_MAX_STEPS, SD15_SAMPLERS, SD3_SAMPLERS } from './samplers.js';
import { styledPrompts, type StylePresetName } from './style-presets.js';
import { toValidationErrorBody, type ValidationErrorBody } from './validation-error.js';
import { DEFAULT_WEBHOOK_EVENTS } from './webhook-events.js';

// The intake parses a request, then applies its style preset: both live with the schema.
export * from './style-presets.js';

/** Operator choices that change what a request may contain. */
export interface SchemaOptions {
  /**
   * `KILN_ALLOW_ANY_RESOLUTION=1`: any width/height that is a multiple of 8 from 64 to 2048,
   * instead of the family's allowed pairs.
   */
  allowAnyResolution: boolean;
}

const FAMILY_LABEL: Record<ModelFamily, string> = { sd15: 'SD1.5', sd3: 'SD3' };

function resolutionFields(family: ModelFamily, opts: SchemaOptions) {
  const [defaultWidth, defaultHeight] = DEFAULT_RESOLUTION[family];
  const { min, max, multipleOf } = ANY_RESOLUTION_LIMITS;
  const rule = opts.allowAnyResolution
    ? `any multiple of ${multipleOf} from ${min} to ${max}`
    : `(width, height) must be one of ${RESOLUTIONS[family].map(formatResolution).join(', ')}`;
  const side = (name: string, fallback: number) =>
    nullMeansAbsent(
      z.int().min(min).max(max).multipleOf(multipleOf).default(fallback).describe(`Output ${name} in pixels; ${rule}.`),
    );
  return { width: side('width', defaultWidth), height: side('height', defaultHeight) };
}

/** Fields a cross-field rule reads: it runs only when none of them failed on its own. */
function whenValid(fields: readonly string[]) {
  return (payload: z.core.ParsePayload): boolean =>
    typeof payload.value === 'object' &&
    payload.value !== null &&
    !Array.isArray(payload.value) &&
    !payload.issues.some((issue) => {
      const head = issue.path?.[0];
      return head === undefined ? issue.code !== 'unrecognized_keys' : fields.includes(String(head));
    });
}

interface CrossFieldValues {
  prompt: string;
  negative_prompt?: string;
  style_preset?: StylePresetName;
  seed?: number | (number | null)[] | null;
  num_images: number;
  width: number;
  height: number;
  init_image?: string;
  strength?: number;
  mask_image?: string;
  outpainting: boolean;
  webhook_url?: string;
  webhook_events?: string[];
}

/**
 * Adds the rules that involve more than one field (docs/generate.md, docs/api.md) and the defaults that
 * depend on another field. Each rule reports at the field the user should change.
 */
function withCrossFieldRules<S extends z.ZodType<CrossFieldValues>>(
  schema: S,
  family: ModelFamily,
  opts: SchemaOptions,
): S {
  let out = schema
    .superRefine(
      (v, ctx) => {
        if (Array.isArray(v.seed) && v.seed.length !== v.num_images) {
          ctx.addIssue({
            code: 'custom',
            path: ['seed'],
            message: `seed list has ${v.seed.length} entries; it must have exactly num_images (${v.num_images})`,
            params: { type: 'list_length', ctx: { expected: v.num_images, actual: v.seed.length } },
          });
        }
      },
      { when: whenValid(['seed', 'num_images']) },
    )
    .superRefine(
      (v, ctx) => {
        if (v.strength !== undefined && v.init_image === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['strength'],
            message: 'strength is only allowed together with init_image',
            params: { type: 'value_error' },
          });
        }
      },
      { when: whenValid(['strength', 'init_image']) },
    )
    .superRefine(
      (v, ctx) => {
        if (v.mask_image !== undefined && v.init_image === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['mask_image'],
            message: 'mask_image needs init_image (the image the mask applies to)',
            params: { type: 'value_error' },
          });
        }
      },
      { when: whenValid(['mask_image', 'init_image']) },
    )
    .superRefine(
      (v, ctx) => {
        if (v.outpainting && (v.mask_image === undefined || v.init_image === undefined)) {
          ctx.addIssue({
            code: 'custom',
            path: ['outpainting'],
            message: 'outpainting needs init_image and mask_image',
            params: { type: 'value_error' },
          });
        }
      },
      { when: whenValid(['outpainting', 'mask_image', 'init_image']) },
    )
    .superRefine(
      (v, ctx) => {
        if (v.webhook_events !== undefined && v.webhook_url === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['webhook_events'],
            message: 'webhook_events needs webhook_url',
            params: { type: 'value_error' },
          });
        }
      },
      { when: whenValid(['webhook_events', 'webhook_url']) },
    )
    .superRefine(
      (v, ctx) => {
        // The styled prompts must still fit the prompt limits the worker parses them with again.
        if (v.style_preset === undefined) return;
        const styled = styledPrompts(v.style_preset, v.prompt, v.negative_prompt);
        for (const field of ['prompt', 'negative_prompt'] as const) {
          const length = styled[field].length;
          if (length <= REQUEST_LIMITS.promptMaxChars) continue;
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message:
              `with style_preset '${v.style_preset}' ${field} becomes ${length} characters; at most ` +
              `${REQUEST_LIMITS.promptMaxChars}: shorten it`,
            params: { type: 'value_error', ctx: { max_length: REQUEST_LIMITS.promptMaxChars } },
          });
        }
      },
      { when: whenValid(['style_preset', 'prompt', 'negative_prompt']) },
    );
  if (family === 'sd3') {
    // SD3 does text-to-image and image-to-image only: diffusers has no SD3 inpainting pipeline
    // that Kiln reproduces, so a mask (or outpainting) is refused by name, never ignored.
    out = out.superRefine(
      (v, ctx) => {
        for (const field of ['mask_image', 'outpainting'] as const) {
          if (v[field] === undefined || v[field] === false) continue;
          ctx.addIssue({
            code: 'custom',
            path: [field],
            message: `${field} is supported by SD1.5 only (POST /generate/sd): SD3 does image-to-image, not inpainting`,
            params: { type: 'value_error' },
          });
        }
      },
      { when: whenValid(['mask_image', 'outpainting']) },
    );
  }
  if (!opts.allowAnyResolution) {
    const allowed = RESOLUTIONS[family].map(formatResolution);
    out = out.superRefine(
      (v, ctx) => {
        if (!isAllowedResolution(family, v.width, v.height)) {
          ctx.addIssue({
            code: 'custom',
            path: ['width'],
            message:
              `${v.width}x${v.height} is not an allowed ${FAMILY_LABEL[family]} resolution (width x height); ` +
              `allowed: ${allowed.join(', ')}`,
            params: { type: 'value_error', ctx: { allowed } },
          });
        }
      },
      { when: whenValid(['width', 'height']) },
    );
  }
  return out.overwrite((v) => {
    // A field sent as null parsed to undefined: drop the key, so null is exactly "not given".
    // A loop rather than Object.fromEntries over filtered entries, which was a fifth of the parse.
    const next = {} as typeof v;
    for (const [field, value] of Object.entries(v)) {
      if (value !== undefined) (next as Record<string, unknown>)[field] = value;
    }
    if (next.init_image !== undefined && next.strength === undefined) next.strength = REQUEST_DEFAULTS.strength;
    if (next.webhook_url !== undefined) {
      next.webhook_events = [...new Set(next.webhook_events ?? DEFAULT_WEBHOOK_EVENTS)];
    }
    return next;
  });
}

/**
 * The body of `POST /generate/sd` (OctoAI's SD1.5 `ImageGenerationRequest` plus Kiln's async
 * fields). Strict: unknown fields are rejected; `null` is "not given" for every field but `prompt`;
 * `LCM` takes at most {@link LCM_MAX_STEPS} steps. Parsing applies every default, including the
 * conditional ones (`strength` 0.8 with `init_image`, `webhook_events` ["completed"] with
 * `webhook_url`). Parse with `VALIDATION_PARSE_PARAMS` (or use `parseGenerateRequest`) to get
 * pydantic-worded messages.
 */
export function createSd15RequestSchema(opts: SchemaOptions) {
  const shape = {
    ...commonRequestFields,
    sampler: nullMeansAbsent(
      z
        .enum(SD15_SAMPLERS)
        .default(DEFAULT_SD15_SAMPLER)
        .describe(
          'Sampler (diffusers scheduler). `LMS` = `KLMS`, `K_HEUN` = `HEUN`. `LCM` is for LCM-distilled weights, ' +
            `with cfg_scale 1–2 and 4–8 steps (at most ${LCM_MAX_STEPS}).`,
        ),
    ),
    ...resolutionFields('sd15', opts),
    ...sd15OnlyRequestFields,
    ...sd15InpaintRequestFields,
    ...sd15ControlNetRequestFields,
    ...secondPromptFieldsRejectedBySd15,
  };
  const object = z
    .strictObject(shape)
    .meta({ title: 'Sd15GenerateRequest', description: 'Body of POST /generate/sd (Stable Diffusion 1.5).' });
  return withCrossFieldRules(object, 'sd15', opts)
    .superRefine(
      (v, ctx) => {
        for (const issue of controlNetIssues(v)) {
          ctx.addIssue({ code: 'custom', ...issue, params: { type: 'value_error' } });
        }
      },
      {
        when: whenValid([
          'controlnet',
          'controlnet_image',
          'controlnet_conditioning_scale',
          'controlnet_early_stop',
          'controlnet_preprocess',
        ]),
      },
    )
    .superRefine(
      (v, ctx) => {
        if (v.sampler === 'LCM' && v.steps > LCM_MAX_STEPS) {
          ctx.addIssue({
            code: 'custom',
            path: ['steps'],
            message:
              `sampler LCM takes at most ${LCM_MAX_STEPS} steps (it picks them from its ${LCM_MAX_STEPS}-step ` +
              'distillation schedule); 4–8 is usual',
            params: { type: 'less_than_equal', ctx: { le: LCM_MAX_STEPS } },
          });
        }
      },
      { when: whenValid(['sampler', 'steps']) },
    );
}

/**
 * The body of `POST /generate/sd3` (SD3 Medium). Like {@link createSd15RequestSchema} but the
 * sampler is flow-matching Euler only, the default size is 1024×1024, and the SD1.5-only fields
 * (`checkpoint`, `vae`, `loras`, `textual_inversions`, `clip_skip`) are rejected by name, while
 * `prompt_2`/`negative_prompt_2` (SD3's second text encoder) are accepted.
 */
export function createSd3RequestSchema(opts: SchemaOptions) {
  const shape = {
    ...commonRequestFields,
    sampler: nullMeansAbsent(
      z
        .enum(SD3_SAMPLERS, {
          error: `SD3 supports only the flow-matching Euler sampler: sampler should be '${DEFAULT_SD3_SAMPLER}' or omitted`,
        })
        .default(DEFAULT_SD3_SAMPLER)
        .describe('SD3 is a flow-matching model: FLOW_MATCH_EULER is the only sampler; omit it or send that.'),
    ),
    ...resolutionFields('sd3', opts),
    ...sd15OnlyFieldsRejectedBySd3,
    ...sd15InpaintFieldsRejectedBySd3,
    ...sd15ControlNetFieldsRejectedBySd3,
    ...sd3SecondPromptFields,
  };
  const object = z
    .strictObject(shape)
    .meta({ title: 'Sd3GenerateRequest', description: 'Body of POST /generate/sd3 (Stable Diffusion 3 Medium).' });
  return withCrossFieldRules(object, 'sd3', opts);
}

/** The schema type {@link createSd15RequestSchema} returns. */
export type Sd15RequestSchema = ReturnType<typeof createSd15RequestSchema>;
/** The schema type {@link createSd3RequestSchema} returns. */
export type Sd3RequestSchema = ReturnType<typeof createSd3RequestSchema>;

/** A parsed SD1.5 request: every default applied. */
export type Sd15Request = z.output<Sd15RequestSchema>;
/** A parsed SD3 request: every default applied. */
export type Sd3Request = z.output<Sd3RequestSchema>;
/** What a client may send to `POST /generate/sd`. */
export type Sd15RequestInput = z.input<Sd15RequestSchema>;
/** What a client may send to `POST /generate/sd3`. */
export type Sd3RequestInput = z.input<Sd3RequestSchema>;

/** A parsed request of either family, tagged with its `family`. */
export type GenerateRequest = (Sd15Request & { family: 'sd15' }) | (Sd3Request & { family: 'sd3' });

const schemaCache = new Map<string, Sd15RequestSchema | Sd3RequestSchema>();

/** The (cached) request schema of a family under the given options. */
export function getGenerateRequestSchema(family: 'sd15', opts: SchemaOptions): Sd15RequestSchema;
export function getGenerateRequestSchema(family: 'sd3', opts: SchemaOptions): Sd3RequestSchema;
export function getGenerateRequestSchema(
  family: ModelFamily,
  opts: SchemaOptions,
): Sd15RequestSchema | Sd3RequestSchema;
export function getGenerateRequestSchema(
  family: ModelFamily,
  opts: SchemaOptions,
): Sd15RequestSchema | Sd3RequestSchema {
  const key = `${family}:${opts.allowAnyResolution}`;
  let schema = schemaCache.get(key);
  if (!schema) {
    schema = family === 'sd15' ? createSd15RequestSchema(opts) : createSd3RequestSchema(opts);
    schemaCache.set(key, schema);
  }
  return schema;
}

/** The outcome of {@link parseGenerateRequest}. */
export type ParseGenerateRequestResult =
  { success: true; data: GenerateRequest } | { success: false; error: z.ZodError; body: ValidationErrorBody };

/**
 * Validates a raw request body for a family: the parsed request tagged with `family`, or the
 * zod error and the ready-to-send 422 body.
 */
export function parseGenerateRequest(
  family: ModelFamily,
  body: unknown,
  opts: SchemaOptions = { allowAnyResolution: false },
): ParseGenerateRequestResult {
  const schema = getGenerateRequestSchema(family, opts);
  // Parse parameters (the pydantic-worded messages) only matter for a failure: a request that fails
  // is parsed again with them, so that the common, valid one does not pay for them (zod copies
  // them into its context on every parse).
  const result = schema.safeParse(body);
  if (!result.success) {
    const worded = schema.safeParse(body, VALIDATION_PARSE_PARAMS) as typeof result;
    return { success: false, error: worded.error, body: toValidationErrorBody(worded.error, body) };
  }
  // Fresh from the parse: tagged in place, not copied (CONTRIBUTING.md, Performance).
  return { success: true, data: Object.assign(result.data, { family }) as GenerateRequest };
}
