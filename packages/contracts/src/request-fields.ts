import { z } from 'zod';
import { MAX_SEED } from './seeds.js';
import { STYLE_PRESET_NAMES } from './style-presets.js';
import { WEBHOOK_EVENTS } from './webhook-events.js';

/** Field defaults of `ImageGenerationRequest` (docs/generate.md); width/height are per family. */
export const REQUEST_DEFAULTS = {
  cfg_scale: 12,
  steps: 30,
  num_images: 1,
  image_encoding: 'jpeg',
  strength: 0.8,
  outpainting: false,
  clip_skip: 1,
  mask_blur: 0,
  inpaint_full_res: false,
  inpaint_full_res_padding: 32,
  inpaint_paste_original: true,
  log_prompt: false,
  use_refiner: true,
  high_noise_frac: 0.8,
} as const;

/** Field limits of `ImageGenerationRequest` (docs/generate.md), inclusive unless named `…Exclusive…`. */
export const REQUEST_LIMITS = {
  promptMaxChars: 10_000,
  cfgScaleExclusiveMin: 0,
  cfgScaleMax: 50,
  stepsMin: 1,
  stepsMax: 200,
  numImagesMin: 1,
  numImagesMax: 16,
  strengthExclusiveMin: 0,
  strengthMax: 1,
  loraWeightMin: -5,
  loraWeightMax: 5,
  clipSkipMin: 1,
  clipSkipMax: 12,
  maskBlurMax: 64,
  inpaintFullResPaddingMax: 256,
  assetNameMaxChars: 256,
  customIdMaxChars: 256,
  webhookUrlMaxChars: 2048,
} as const;

/** The output encodings a request can ask for. */
export const IMAGE_ENCODINGS = ['jpeg', 'png'] as const;

/** `jpeg` or `png`. */
export type ImageEncoding = (typeof IMAGE_ENCODINGS)[number];

/**
 * Where `null` means "not given". OctoAI's spec marks many fields nullable, and clients send `null`
 * for an argument they leave unset; Kiln reads `null` as absence for every field but `prompt`, so a
 * null field gets its default. The schema drops the null before validating, so errors and parsed
 * types are the field's own. Returns a new schema, known to {@link acceptsNull} (the OpenAPI
 * document shows those fields as nullable).
 */
export function nullMeansAbsent<S extends z.ZodType>(schema: S): NullMeansAbsent<S> {
  const wrapped = z.preprocess((value: z.input<S> | null) => (value === null ? undefined : value), schema);
  nullableFields.add(wrapped);
  return wrapped;
}

/** A field schema wrapped by {@link nullMeansAbsent}: it also accepts `null`, and parses to `S`'s output. */
export type NullMeansAbsent<S extends z.ZodType> = z.ZodPreprocess<S, z.input<S> | null>;

/** {@link nullMeansAbsent} applied to every field of a shape. */
function nullsMeanAbsent<T extends Record<string, z.ZodType>>(fields: T): { [K in keyof T]: NullMeansAbsent<T[K]> } {
  return Object.fromEntries(Object.entries(fields).map(([key, field]) => [key, nullMeansAbsent(field)])) as {
    [K in keyof T]: NullMeansAbsent<T[K]>;
  };
}

/**
 * Fields an engine refuses by name (another engine's fields): present so that sending one gets a
 * message naming it rather than a bare "extra field", shown in the OpenAPI document as not accepted.
 * `null` is accepted: it is "not given".
 */
function rejectedFields<F extends string>(fields: readonly F[], message: (field: F) => string, note: string) {
  const entries = fields.map((field) => [
    field,
    nullMeansAbsent(
      z
        .never({ error: message(field) })
        .optional()
        .meta({ description: `${note}: \`${field}\` is rejected here (null is accepted: not given).` }),
    ),
  ]);
  return Object.fromEntries(entries) as Record<F, NullMeansAbsent<z.ZodOptional<z.ZodNever>>>;
}

const sd15Only = (field: string) => `${field} is supported by SD1.5 only (POST /generate/sd); SD3 does not accept it`;

const nullableFields = new WeakSet<z.ZodType>();

/** Whether a request field was built with {@link nullMeansAbsent}. */
export function acceptsNull(schema: z.ZodType): boolean {
  return nullableFields.has(schema);
}

/** The fields only `POST /generate/sd` accepts; `/generate/sd3` answers 422 naming them. */
export const SD15_ONLY_FIELDS = ['checkpoint', 'vae', 'loras', 'textual_inversions', 'clip_skip'] as const;

/** One of {@link SD15_ONLY_FIELDS}. */
export type Sd15OnlyField = (typeof SD15_ONLY_FIELDS)[number];

const L = REQUEST_LIMITS;
const D = REQUEST_DEFAULTS;

const prompt = z
  .string()
  .min(1)
  .max(L.promptMaxChars)
  .describe(
    'What to draw, 1..10000 characters. AUTOMATIC1111 weighting syntax: `(word:1.5)`, `(word)` = ×1.1, ' +
      '`[word]` = ÷1.1, nested groups multiply, `\\(` and `\\)` are literal brackets. SD1.5 prompts longer than ' +
      '75 CLIP tokens are split into 75-token chunks, each encoded alone, and the embeddings concatenated.',
  );

const negativePrompt = z
  .string()
  .max(L.promptMaxChars)
  .describe('What to steer away from, up to 10000 characters, same syntax as `prompt`.');

const cfgScale = z
  .number()
  .gt(L.cfgScaleExclusiveMin)
  .lte(L.cfgScaleMax)
  .default(D.cfg_scale)
  .describe('Classifier-free guidance scale, > 0 and ≤ 50. 1 means no guidance.');

const steps = z.int().min(L.stepsMin).max(L.stepsMax).default(D.steps).describe('Denoising steps, 1..200.');

const numImages = z
  .int()
  .min(L.numImagesMin)
  .max(L.numImagesMax)
  .default(D.num_images)
  .describe('Images to generate, 1..16, one seed each.');

const seedValue = z.int().min(0).max(MAX_SEED);

const seed = z
  .union([seedValue, z.array(seedValue.nullable()), z.null()], {
    error: 'Input should be an integer in [0, 2^32), a list of such integers or nulls, or null',
  })
  .describe(
    'Random seed(s), each 0 ≤ seed < 2^32. One int `s` gives `s, s+1, …` (mod 2^32); a list gives one ' +
      'seed per image and must have `num_images` entries, `null` entries drawn at random; null or absent ' +
      'draws all at random. Each image is reproducible alone from its own seed.',
  );

const imageEncoding = z.enum(IMAGE_ENCODINGS).default(D.image_encoding).describe('Encoding of the returned images.');

const base64Image = (what: string) => z.string().min(1).describe(`${what} Base64 of a PNG, JPEG or WebP image.`);

const strength = z
  .number()
  .gt(L.strengthExclusiveMin)
  .lte(L.strengthMax)
  .meta({
    default: D.strength,
    description:
      'How much of `init_image` to repaint, > 0 and ≤ 1 (1 = ignore it). Only allowed with `init_image`, ' +
      'where it defaults to 0.8.',
  });

const outpainting = z
  .boolean()
  .default(D.outpainting)
  .describe('With `init_image` and `mask_image`: pre-fill the masked border before denoising.');

/**
 * An asset as a request names it: one of the caller's own (`POST /v1/assets`) or `library:<name>`,
 * a shared asset the operator installed. The alphabet has no `/`: a name is never a path.
 */
const assetName = z
  .string()
  .min(1)
  .max(L.assetNameMaxChars)
  .regex(/^(library:)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
    message: 'an asset name is 1..128 characters of A-Z a-z 0-9 . _ - (optionally after library:)',
  });

const checkpoint = assetName.describe(
  'A checkpoint: `library:<name>` (installed by the operator under `KILN_ASSETS_DIR/checkpoint/`) or a model ' +
    "folder under `KILN_MODELS_DIR`; default: the server's SD1.5 model.",
);

const vae = assetName.describe(
  "Name of a VAE asset (`POST /v1/assets` with `type=vae`, or `library:<name>`) replacing the model's decoder " +
    '(and encoder when the asset has one).',
);

const loras = z
  .record(assetName, z.number().min(L.loraWeightMin).max(L.loraWeightMax))
  .describe(
    'LoRA assets to merge, `{ name: weight }`, weight −5..5 (negative subtracts, 0 leaves the model as it is), ' +
      "applied in the order given; `{}` means none. Keys that match no module are listed in the job's result.",
  );

const textualInversions = z
  .record(assetName, z.string().min(1).max(L.assetNameMaxChars))
  .describe(
    'Textual-inversion assets to load, `{ name: trigger }`; `trigger` is the word that calls it in prompts; `{}` ' +
      'means none.',
  );

const clipSkip = z
  .int()
  .min(L.clipSkipMin)
  .max(L.clipSkipMax)
  .default(D.clip_skip)
  .describe('Use the output of the n-th last CLIP layer, 1..12 (1 = the last, the usual).');

const logPrompt = z
  .boolean()
  .default(D.log_prompt)
  .describe('Keep the prompts in logs and job records (OctoAI: "stores request prompt if True"). Default false.');

const stylePreset = z
  .enum(STYLE_PRESET_NAMES)
  .describe(
    "A named prompt template (OctoAI's SDXL styles): the prompt is put into the style's template and the " +
      "style's negative text is appended to `negative_prompt`. Kiln applies it on every engine.",
  );

const useRefiner = z.boolean().meta({
  default: D.use_refiner,
  description:
    "SDXL's refiner stage. SD1.5 and SD3 have none: false is what they do, and true (the spec's default) is " +
    'accepted and renders without a refiner.',
});

const highNoiseFrac = z
  .number()
  .min(0)
  .max(1)
  .refine((v) => v === D.high_noise_frac || v === 1, {
    message:
      "high_noise_frac is the share of steps SDXL's base model runs before its refiner; SD1.5 and SD3 have no " +
      `refiner and run every step on the base model: omit it, or send ${D.high_noise_frac} (the default) or 1`,
    params: { type: 'value_error' },
  })
  .meta({
    default: D.high_noise_frac,
    enum: [D.high_noise_frac, 1], // what the refine lets through, for the OpenAPI document
    description:
      'SDXL only (share of steps before the refiner). SD1.5 and SD3 run every step on the base model, so only ' +
      `${D.high_noise_frac} (the spec's default) and 1 are accepted.`,
  });

const webhookUrl = z
  .url({ protocol: /^https?$/ })
  .max(L.webhookUrlMaxChars)
  .describe("http(s) URL that receives this job's events (Standard Webhooks signatures). Kiln extension.");

const webhookEvents = z
  .array(z.enum(WEBHOOK_EVENTS))
  .min(1)
  .meta({
    default: ['completed'],
    description: 'Events to deliver to `webhook_url`; only with `webhook_url`, where it defaults to ["completed"].',
  });

const customId = z
  .string()
  .min(1)
  .max(L.customIdMaxChars)
  .describe("Caller's own identifier, echoed on the job, its webhooks and batch results. Kiln extension.");

/**
 * The fields both families share, keyed as in the request body. Width and height come from
 * the family (their defaults and allowed pairs differ), as does the sampler.
 */
export const commonRequestFields = {
  prompt,
  negative_prompt: nullMeansAbsent(negativePrompt.optional()),
  cfg_scale: nullMeansAbsent(cfgScale),
  steps: nullMeansAbsent(steps),
  num_images: nullMeansAbsent(numImages),
  seed: nullMeansAbsent(seed.optional()),
  image_encoding: nullMeansAbsent(imageEncoding),
  init_image: nullMeansAbsent(base64Image('Source image for img2img, inpainting and outpainting.').optional()),
  strength: nullMeansAbsent(strength.optional()),
  mask_image: nullMeansAbsent(
    base64Image('Inpainting mask, white = repaint; needs `init_image`; resized to the output size.').optional(),
  ),
  outpainting: nullMeansAbsent(outpainting),
  webhook_url: nullMeansAbsent(webhookUrl.optional()),
  webhook_events: nullMeansAbsent(webhookEvents.optional()),
  custom_id: nullMeansAbsent(customId.optional()),
  log_prompt: nullMeansAbsent(logPrompt),
  style_preset: nullMeansAbsent(stylePreset.optional()),
  use_refiner: nullMeansAbsent(useRefiner.optional()),
  high_noise_frac: nullMeansAbsent(highNoiseFrac.optional()),
};

/** The SD1.5-only fields, as `POST /generate/sd` accepts them. */
export const sd15OnlyRequestFields = {
  checkpoint: nullMeansAbsent(checkpoint.optional()),
  vae: nullMeansAbsent(vae.optional()),
  loras: nullMeansAbsent(loras.optional()),
  textual_inversions: nullMeansAbsent(textualInversions.optional()),
  clip_skip: nullMeansAbsent(clipSkip),
} satisfies Record<Sd15OnlyField, z.ZodType>;

/** The SD1.5-only fields on SD3: refused by name. */
export const sd15OnlyFieldsRejectedBySd3 = rejectedFields(SD15_ONLY_FIELDS, sd15Only, 'SD1.5 only');

/**
 * OctoAI's second prompts. SD3 has two CLIP text encoders and takes them as diffusers'
 * `StableDiffusion3Pipeline` does (`prompt_2`/`negative_prompt_2` go to the second encoder; absent,
 * it gets `prompt`/`negative_prompt`). SD1.5 has one text encoder and answers 422 naming them.
 */
export const SECOND_PROMPT_FIELDS = ['prompt_2', 'negative_prompt_2'] as const;

/** One of {@link SECOND_PROMPT_FIELDS}. */
export type SecondPromptField = (typeof SECOND_PROMPT_FIELDS)[number];

/** The second prompts as `POST /generate/sd3` accepts them. */
export const sd3SecondPromptFields = {
  prompt_2: nullMeansAbsent(
    z
      .string()
      .max(L.promptMaxChars)
      .optional()
      .describe("Prompt for SD3's second CLIP text encoder, same syntax as `prompt`; absent: `prompt` is used."),
  ),
  negative_prompt_2: nullMeansAbsent(
    negativePrompt
      .optional()
      .describe("Negative prompt for SD3's second CLIP text encoder; absent: `negative_prompt` is used."),
  ),
} satisfies Record<SecondPromptField, z.ZodType>;

/** The second prompts on SD1.5: rejected by name when set (null is accepted: not given). */
export const secondPromptFieldsRejectedBySd15 = rejectedFields(
  SECOND_PROMPT_FIELDS,
  (field) =>
    `${field} feeds the second text encoder of SD3 (POST /generate/sd3) and SDXL; SD1.5 has one text encoder: ` +
    'omit it or send null',
  'SD3 only',
);

/**
 * Kiln's inpainting extensions of `POST /generate/sd` (not in OctoAI's field table; SD1.5 only):
 * AUTOMATIC1111's mask blur, "inpaint at full resolution" as OctoAI and A1111 name it, and the
 * paste-back of the original outside the mask. They act only together with `mask_image`; without
 * one they are accepted and have no effect. docs/image-editing.md explains each.
 */
export const SD15_INPAINT_FIELDS = [
  'mask_blur',
  'inpaint_full_res',
  'inpaint_full_res_padding',
  'inpaint_paste_original',
] as const;

/** One of {@link SD15_INPAINT_FIELDS}. */
export type Sd15InpaintField = (typeof SD15_INPAINT_FIELDS)[number];

/** The inpainting extensions as `POST /generate/sd` accepts them (defaults applied by the worker). */
export const sd15InpaintRequestFields = nullsMeanAbsent({
  mask_blur: z
    .int()
    .min(0)
    .max(L.maskBlurMax)
    .optional()
    .meta({
      default: D.mask_blur,
      description:
        "Gaussian blur of `mask_image` in pixels (standard deviation), 0..64, as AUTOMATIC1111's mask blur: softens " +
        'the seam where the original is pasted back. Only with `mask_image`. Kiln extension.',
    }),
  inpaint_full_res: z
    .boolean()
    .optional()
    .meta({
      default: D.inpaint_full_res,
      description:
        'Render only the region around the mask (its bounding box plus `inpaint_full_res_padding`, grown to the ' +
        "output's aspect ratio) at the full output size, then scale it back into the picture (OctoAI's and " +
        'AUTOMATIC1111\'s "inpaint at full resolution"). Only with `mask_image`. Kiln extension.',
    }),
  inpaint_full_res_padding: z.int().min(0).max(L.inpaintFullResPaddingMax).optional().meta({
    default: D.inpaint_full_res_padding,
    description: 'Pixels of context around the mask with `inpaint_full_res`, 0..256. Kiln extension.',
  }),
  inpaint_paste_original: z
    .boolean()
    .optional()
    .meta({
      default: D.inpaint_paste_original,
      description:
        "Paste the original pixels back outside the mask after decoding (AUTOMATIC1111's overlay), so the unmasked " +
        "area equals the input exactly; false returns the raw VAE decode, as diffusers' pipeline does. Only with " +
        '`mask_image`. Kiln extension.',
    }),
} satisfies Record<Sd15InpaintField, z.ZodType>);

/** The inpainting extensions on SD3: rejected by name, like the other SD1.5-only fields. */
export const sd15InpaintFieldsRejectedBySd3 = rejectedFields(SD15_INPAINT_FIELDS, sd15Only, 'SD1.5 only');
