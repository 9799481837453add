import { z } from 'zod';
import { assetReportSchema } from './assets.schema.js';
import { errorInfoSchema } from './errors.js';
import { MODEL_FAMILIES } from './model-family.js';
import { RUNNING_STAGES } from './render-job.schema.js';
import { MAX_SEED } from './seeds.js';

/** States of a job. `queued` → `running` → `completed` | `failed` | `canceled`. */
export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'canceled'] as const;

/** One of {@link JOB_STATUSES}. */
export type JobStatus = (typeof JOB_STATUSES)[number];

/** The final states: a job in one of them never changes again. */
export const FINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'canceled'];

/** MIME types of stored images, by `image_encoding`. */
export const IMAGE_CONTENT_TYPES = { jpeg: 'image/jpeg', png: 'image/png' } as const;

const isoTimestamp = z.iso.datetime({ offset: true });
const count = z.int().min(0);

/** Progress of a job's denoising. */
export const jobProgressSchema = z
  .object({
    step: count.describe('Denoising steps done for the image(s) now in progress; 0 before the first.'),
    total_steps: count.describe(
      'Denoising steps each image takes: `steps`, or fewer for img2img (`int(steps × strength)`, as diffusers counts them).',
    ),
    images_done: count.describe('Images finished so far.'),
    num_images: z.int().min(1).describe('Images the job makes (`num_images` of the request).'),
    stage: z
      .enum(RUNNING_STAGES)
      .nullable()
      .describe(
        'While running: `loading_assets` while the worker loads and merges an asset set no earlier job used ' +
          '(LoRAs, embeddings, a VAE), then `denoising`. Null otherwise.',
      ),
  })
  .meta({ description: 'How far the job has come.' });

/**
 * Present with `?image_urls=1`: where to download an image straight from object storage, and
 * the bytes' checksum. Shared by job documents and batch result lines.
 */
export const storageUrlFields = {
  sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable()
    .optional()
    .describe('SHA-256 (hex) of the image bytes; null when removed for safety or for jobs stored before checksums.'),
  image_url: z
    .string()
    .nullable()
    .optional()
    .describe(
      'With `?image_urls=1`: a presigned URL that downloads the bytes straight from the S3-compatible store, ' +
        "no API key needed, until `image_url_expires_at`; only the job's owner gets one. Null when Kiln stores " +
        'results on its filesystem (download from `url`) or the image was removed for safety.',
    ),
  image_url_expires_at: z.iso
    .datetime({ offset: true })
    .nullable()
    .optional()
    .describe('When `image_url` stops working (ISO 8601); null without one.'),
};

/** One finished image of a job. */
export const jobImageSchema = z
  .object({
    index: count.describe('Position in seed order, 0-based; `GET /v1/jobs/{id}/images/{index}` serves it.'),
    seed: z.int().min(0).max(MAX_SEED).describe('The seed that reproduces this image alone.'),
    url: z.string().nullable().describe('Absolute URL of the image bytes; null when the image was removed for safety.'),
    content_type: z
      .enum([IMAGE_CONTENT_TYPES.jpeg, IMAGE_CONTENT_TYPES.png])
      .describe('MIME type of the bytes at `url`.'),
    removed_for_safety: z.boolean().describe('True when the safety checker withheld the image.'),
    safety_score: z.number().nullable().describe("The safety checker's score; null when the model has no checker."),
    ...storageUrlFields,
  })
  .meta({ description: 'A finished image.' });

/** The body of `GET /v1/jobs/{id}`. */
export const jobSchema = z
  .object({
    id: z.string().describe('The job id (also the OctoAI `response_id`).'),
    status: z.enum(JOB_STATUSES).describe('`queued`, `running`, then `completed`, `failed` or `canceled`.'),
    family: z.enum(MODEL_FAMILIES).describe('`sd15` for /generate/sd, `sd3` for /generate/sd3.'),
    custom_id: z.string().nullable().describe("The request's `custom_id`, or null."),
    batch_id: z.string().nullable().describe('The batch this job is an item of (`POST /v1/batches`), or null.'),
    progress: jobProgressSchema,
    queue_position: count
      .nullable()
      .describe('While `queued`: how many jobs are ahead of this one in its lane (0 = next). Otherwise null.'),
    attempts_made: count.describe('Attempts that have ended (a job that fails inside Kiln is retried).'),
    cancel_requested: z
      .boolean()
      .describe('True while a running job has been asked to stop: it ends `canceled` at its next denoising step.'),
    created_at: isoTimestamp.describe('When the job was accepted (ISO 8601).'),
    started_at: isoTimestamp.nullable().describe('When a worker started it; null while queued.'),
    finished_at: isoTimestamp.nullable().describe('When it reached a final state; null before.'),
    error: errorInfoSchema.nullable().describe('Why it failed or was canceled; null otherwise.'),
    images: z.array(jobImageSchema).describe('Finished images in seed order; complete once `completed`.'),
    seeds: z
      .array(z.int().min(0).max(MAX_SEED))
      .describe("Every image's seed in order, resolved when the job was accepted."),
    prediction_time_ms: z
      .number()
      .min(0)
      .nullable()
      .describe('Generation time in milliseconds once completed; null before.'),
    parameters: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'The request as the job runs it: every default applied, the sampler canonical, input images left out; ' +
          'the prompts only when the request set `log_prompt` (they are kept in job records only then).',
      ),
    assets: assetReportSchema
      .nullable()
      .optional()
      .describe('With custom assets, once completed: what applying them did (unmatched LoRA keys); null otherwise.'),
  })
  .meta({ title: 'Job', description: 'A generation job: state, progress, timing and results.' });

/** The body of `GET /v1/jobs/{id}`. */
export type Job = z.output<typeof jobSchema>;
/** Progress of a job. */
export type JobProgress = z.output<typeof jobProgressSchema>;
/** A finished image of a job. */
export type JobImage = z.output<typeof jobImageSchema>;
