/**
 * A render job: what travels through the queue from the API (or a batch) to a worker, and what
 * every reader of a job parses it with. It holds the request as the intake normalised it — every
 * default applied, seeds resolved, the sampler canonical, images replaced by storage keys — so a
 * worker never re-validates HTTP rules (the operator's resolution policy, base64) and every
 * reader sees typed fields. One member per model family.
 */
import { z } from 'zod';
import { jobAssetsSchema, type AssetReport } from './assets.schema.js';
import { CONTROLNET_LIMITS, jobControlNetSchema } from './controlnet-fields.js';
import { IMAGE_ENCODINGS, REQUEST_LIMITS } from './request-fields.js';
import { ANY_RESOLUTION_LIMITS } from './resolutions.js';
import { SD15_SAMPLERS, SD3_SAMPLERS } from './samplers.js';
import { MAX_SEED } from './seeds.js';
import { WEBHOOK_EVENTS } from './webhook-events.js';

const L = REQUEST_LIMITS;
const side = z
  .int()
  .min(ANY_RESOLUTION_LIMITS.min)
  .max(ANY_RESOLUTION_LIMITS.max)
  .multipleOf(ANY_RESOLUTION_LIMITS.multipleOf);
const assetName = z.string().min(1).max(L.assetNameMaxChars);

/** The fields every family's job request has. */
const commonJobRequest = {
  prompt: z.string().min(1).max(L.promptMaxChars),
  negative_prompt: z.string().max(L.promptMaxChars),
  cfg_scale: z.number().gt(L.cfgScaleExclusiveMin).lte(L.cfgScaleMax),
  steps: z.int().min(L.stepsMin).max(L.stepsMax),
  width: side,
  height: side,
  image_encoding: z.enum(IMAGE_ENCODINGS),
  /** With an init image only: how much of it to repaint. */
  strength: z.number().gt(L.strengthExclusiveMin).lte(L.strengthMax).optional(),
  /** Whether the prompts may appear in logs and stored records (a result's manifest); default not. */
  log_prompt: z.boolean(),
};

/** An SD1.5 job's request. Aliased samplers arrive canonical (`LMS` → `KLMS`). */
export const sd15JobRequestSchema = z.strictObject({
  ...commonJobRequest,
  sampler: z.enum(SD15_SAMPLERS),
  clip_skip: z.int().min(L.clipSkipMin).max(L.clipSkipMax),
  checkpoint: assetName.optional(),
  vae: assetName.optional(),
  loras: z.record(assetName, z.number().min(L.loraWeightMin).max(L.loraWeightMax)).optional(),
  textual_inversions: z.record(assetName, z.string().min(1).max(L.assetNameMaxChars)).optional(),
  outpainting: z.boolean(),
  mask_blur: z.int().min(0).max(L.maskBlurMax),
  inpaint_full_res: z.boolean(),
  inpaint_full_res_padding: z.int().min(0).max(L.inpaintFullResPaddingMax),
  inpaint_paste_original: z.boolean(),
  /** The request's ControlNets in order (docs/controlnet.md); their images are in the job's `inputs.controlnet_images`. */
  controlnets: z.array(jobControlNetSchema).min(1).max(CONTROLNET_LIMITS.maxControlNets).optional(),
});

/** An SD3 job's request. */
export const sd3JobRequestSchema = z.strictObject({
  ...commonJobRequest,
  sampler: z.enum(SD3_SAMPLERS),
  /** The second text encoder's prompts (diffusers' `prompt_2`); absent, the first ones are used. */
  prompt_2: z.string().max(L.promptMaxChars).optional(),
  negative_prompt_2: z.string().max(L.promptMaxChars).optional(),
});

/** The storage keys of a job's input images (the API stored the bytes before queueing). */
export const jobInputsSchema = z.strictObject({
  init_image: z.string().min(1).optional(),
  mask_image: z.string().min(1).optional(),
  /** One per ControlNet, in the order of the request's `controlnets`. */
  controlnet_images: z.array(z.string().min(1)).min(1).max(CONTROLNET_LIMITS.maxControlNets).optional(),
});

/** The fields every job has besides its request: who asked, where events go, its batch. */
const jobEnvelope = {
  /** One seed per image, in image order. */
  seeds: z.array(z.int().min(0).max(MAX_SEED)).min(L.numImagesMin).max(L.numImagesMax),
  inputs: jobInputsSchema,
  tenant: z.string().min(1),
  /** The caller's API key id: usage is counted per key, webhooks are signed with its secret. */
  keyId: z.string().min(1),
  /** When the API accepted it (ms since the epoch). */
  submittedAt: z.number(),
  /** Base of the links put in webhook payloads, as the API saw it at submit time. */
  baseUrl: z.string(),
  /** The request's `webhook_url` and the events it subscribed to. */
  webhook: z.strictObject({ url: z.string().min(1), events: z.array(z.enum(WEBHOOK_EVENTS)).min(1) }).optional(),
  /** The caller's `custom_id` (a batch item's, or the request's). */
  customId: z.string().optional(),
  /** The batch this job is an item of (`POST /v1/batches`). */
  batchId: z.string().optional(),
  /** A batch item's virtual start tag in the fair-share clock (docs/fairness.md). */
  fairTag: z.int().min(0).optional(),
};

/** A job, by model family. */
export const renderJobSchema = z.discriminatedUnion('family', [
  z.strictObject({
    family: z.literal('sd15'),
    request: sd15JobRequestSchema,
    /** The request's named assets, resolved by the API to what a worker fetches (absent: none). */
    assets: jobAssetsSchema.optional(),
    ...jobEnvelope,
  }),
  z.strictObject({ family: z.literal('sd3'), request: sd3JobRequestSchema, ...jobEnvelope }),
]);

/** A job as the queue carries it. */
export type RenderJobData = z.output<typeof renderJobSchema>;
/** An SD1.5 job. */
export type Sd15Job = Extract<RenderJobData, { family: 'sd15' }>;
/** An SD3 job. */
export type Sd3Job = Extract<RenderJobData, { family: 'sd3' }>;
/** An SD1.5 job's request. */
export type Sd15JobRequest = z.output<typeof sd15JobRequestSchema>;
/** An SD3 job's request. */
export type Sd3JobRequest = z.output<typeof sd3JobRequestSchema>;
/** Storage keys of a job's input images, by request field. */
export type JobInputs = z.output<typeof jobInputsSchema>;
/** The input image fields, in the order a request names them. */
export const JOB_IMAGE_FIELDS = ['init_image', 'mask_image'] as const;
export type JobImageField = (typeof JOB_IMAGE_FIELDS)[number];

/** One stored image of a finished job. */
export interface StoredImage {
  index: number;
  seed: number;
  /** Storage key of the encoded image; null when it was removed for safety. */
  key: string | null;
  /** SHA-256 (hex) of the stored bytes, for clients that download from storage; absent on older jobs. */
  sha256?: string | null;
  contentType: string;
  removedForSafety: boolean;
  safetyScore: number | null;
}

/** A finished job's return value, kept by the queue until the result retention ends. */
export interface RenderJobResult {
  images: StoredImage[];
  predictionTimeMs: number;
  model: string;
  /** What applying the job's custom assets did (LoRA keys that matched nothing among it); absent without assets. */
  assets?: AssetReport;
}

/** What a worker reports as denoising advances (one report per step of each micro-batch). */
export interface RenderJobProgress {
  step: number;
  totalSteps: number;
  imagesDone: number;
  numImages: number;
  /** Absent (or `denoising`) once steps are reported; `loading_assets` while a new asset set is merged. */
  stage?: RunningStage;
}

/** What a running job is doing: merging a LoRA/embedding/VAE set it is the first to use, or denoising. */
export const RUNNING_STAGES = ['loading_assets', 'denoising'] as const;
export type RunningStage = (typeof RUNNING_STAGES)[number];
