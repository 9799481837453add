import { z } from 'zod';
import { MAX_SEED } from './seeds.js';
import { WEBHOOK_EVENTS } from './webhook-events.js';

/** Field defaults of `ImageGenerationRequest` (CONTRACT §1); width/height are per family. */
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
} as const;

/** Field limits of `ImageGenerationRequest` (CONTRACT §1), inclusive unless named `…Exclusive…`. */
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

const imageEncoding = z
  .enum(IMAGE_ENCODINGS)
  .default(D.image_encoding)
  .describe('Encoding of the returned images.');

const base64Image = (what: string) =>
  z.string().min(1).describe(`${what} Base64 of a PNG, JPEG or WebP image.`);

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

const assetName = z.string().min(1).max(L.assetNameMaxChars);

const checkpoint = assetName.describe(
  'Name of a checkpoint in the asset library (`library:` names are shared); default: the server\'s SD1.5 model.',
);

const vae = assetName.describe('Name of a VAE asset replacing the model\'s own.');

const loras = z
  .record(assetName, z.number().min(L.loraWeightMin).max(L.loraWeightMax))
  .describe('LoRA assets to apply, `{ name: weight }`, weight −5..5.');

const textualInversions = z
  .record(assetName, z.string().min(1).max(L.assetNameMaxChars))
  .describe('Textual-inversion assets to load, `{ name: trigger }`; `trigger` is the word that calls it in prompts.');

const clipSkip = z
  .int()
  .min(L.clipSkipMin)
  .max(L.clipSkipMax)
  .default(D.clip_skip)
  .describe('Use the output of the n-th last CLIP layer, 1..12 (1 = the last, the usual).');

const webhookUrl = z
  .url({ protocol: /^https?$/ })
  .max(L.webhookUrlMaxChars)
  .describe('http(s) URL that receives this job\'s events (Standard Webhooks signatures). Kiln extension.');

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
  .describe('Caller\'s own identifier, echoed on the job, its webhooks and batch results. Kiln extension.');

/**
 * The fields both families share, keyed as in the request body. Width and height come from
 * the family (their defaults and allowed pairs differ), as does the sampler.
 */
export const commonRequestFields = {
  prompt,
  negative_prompt: negativePrompt.optional(),
  cfg_scale: cfgScale,
  steps,
  num_images: numImages,
  seed: seed.optional(),
  image_encoding: imageEncoding,
  init_image: base64Image('Source image for img2img, inpainting and outpainting.').optional(),
  strength: strength.optional(),
  mask_image: base64Image('Inpainting mask, white = repaint; needs `init_image`; resized to the output size.').optional(),
  outpainting,
  webhook_url: webhookUrl.optional(),
  webhook_events: webhookEvents.optional(),
  custom_id: customId.optional(),
};

/** The SD1.5-only fields, as `POST /generate/sd` accepts them. */
export const sd15OnlyRequestFields = {
  checkpoint: checkpoint.optional(),
  vae: vae.optional(),
  loras: loras.optional(),
  textual_inversions: textualInversions.optional(),
  clip_skip: clipSkip,
} satisfies Record<Sd15OnlyField, z.ZodType>;

/**
 * The same names on SD3: present so that sending one gets a message naming it (rather than a
 * bare "extra field"), and shown in the OpenAPI document as not accepted.
 */
export const sd15OnlyFieldsRejectedBySd3 = Object.fromEntries(
  SD15_ONLY_FIELDS.map((field) => [
    field,
    z
      .never({ error: `${field} is supported by SD1.5 only (POST /generate/sd); SD3 does not accept it` })
      .optional()
      .meta({ description: `SD1.5 only: \`${field}\` is rejected by /generate/sd3.` }),
  ]),
) as Record<Sd15OnlyField, z.ZodOptional<z.ZodNever>>;

/**
 * Kiln's inpainting extensions of `POST /generate/sd` (not in OctoAI's field table; SD1.5 only):
 * AUTOMATIC1111's mask blur, "inpaint at full resolution" as OctoAI and A1111 name it, and the
 * paste-back of the original outside the mask. They act only together with `mask_image`; without
 * one they are accepted and have no effect. docs/image-editing.md explains each.
 */
export const SD15_INPAINT_FIELDS = ['mask_blur', 'inpaint_full_res', 'inpaint_full_res_padding', 'inpaint_paste_original'] as const;

/** One of {@link SD15_INPAINT_FIELDS}. */
export type Sd15InpaintField = (typeof SD15_INPAINT_FIELDS)[number];

/** The inpainting extensions as `POST /generate/sd` accepts them (defaults applied by the worker). */
export const sd15InpaintRequestFields = {
  mask_blur: z
    .int()
    .min(0)
    .max(L.maskBlurMax)
    .optional()
    .meta({
      default: D.mask_blur,
      description:
        'Gaussian blur of `mask_image` in pixels (standard deviation), 0..64, as AUTOMATIC1111\'s mask blur: softens ' +
        'the seam where the original is pasted back. Only with `mask_image`. Kiln extension.',
    }),
  inpaint_full_res: z
    .boolean()
    .optional()
    .meta({
      default: D.inpaint_full_res,
      description:
        'Render only the region around the mask (its bounding box plus `inpaint_full_res_padding`, grown to the ' +
        'output\'s aspect ratio) at the full output size, then scale it back into the picture (OctoAI\'s and ' +
        'AUTOMATIC1111\'s "inpaint at full resolution"). Only with `mask_image`. Kiln extension.',
    }),
  inpaint_full_res_padding: z
    .int()
    .min(0)
    .max(L.inpaintFullResPaddingMax)
    .optional()
    .meta({
      default: D.inpaint_full_res_padding,
      description: 'Pixels of context around the mask with `inpaint_full_res`, 0..256. Kiln extension.',
    }),
  inpaint_paste_original: z
    .boolean()
    .optional()
    .meta({
      default: D.inpaint_paste_original,
      description:
        'Paste the original pixels back outside the mask after decoding (AUTOMATIC1111\'s overlay), so the unmasked ' +
        'area equals the input exactly; false returns the raw VAE decode, as diffusers\' pipeline does. Only with ' +
        '`mask_image`. Kiln extension.',
    }),
} satisfies Record<Sd15InpaintField, z.ZodType>;

/** The inpainting extensions on SD3: rejected by name, like the other SD1.5-only fields. */
export const sd15InpaintFieldsRejectedBySd3 = Object.fromEntries(
  SD15_INPAINT_FIELDS.map((field) => [
    field,
    z
      .never({ error: `${field} is supported by SD1.5 only (POST /generate/sd); SD3 does not accept it` })
      .optional()
      .meta({ description: `SD1.5 only: \`${field}\` is rejected by /generate/sd3.` }),
  ]),
) as Record<Sd15InpaintField, z.ZodOptional<z.ZodNever>>;
