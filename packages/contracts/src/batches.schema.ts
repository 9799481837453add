import { z } from 'zod';
import { errorInfoSchema } from './errors.js';
import { IMAGE_CONTENT_TYPES, storageUrlFields } from './jobs.schema.js';
import { REQUEST_LIMITS } from './request-fields.js';
import { MAX_SEED } from './seeds.js';
import { validationErrorBodySchema } from './validation-error.js';
import { WEBHOOK_EVENTS } from './webhook-events.js';

/** Most items one batch may carry by default (`KILN_BATCH_MAX_ITEMS`). */
export const DEFAULT_BATCH_MAX_ITEMS = 100_000;

/** Content types `POST /v1/batches` accepts: JSONL (one item per line) and the JSON envelope. */
export const BATCH_JSONL_TYPES = ['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines'] as const;

/** Batch-level events: a batch does not "fail" as a whole (its items' failures are counted). */
export const BATCH_WEBHOOK_EVENTS = WEBHOOK_EVENTS.filter((e) => e !== 'failed');

/**
 * One item of a batch, one JSONL line: `{"custom_id","url","body"}`. `body` is validated with the
 * same schema as the endpoint named by `url`; its own `custom_id`, if any, must match.
 */
export const batchItemSchema = z
  .strictObject({
    custom_id: z
      .string()
      .min(1)
      .max(REQUEST_LIMITS.customIdMaxChars)
      .describe('Your id for the item, unique within the batch; results, webhooks and resubmission go by it.'),
    method: z.literal('POST').optional().describe('Accepted for OpenAI batch-file compatibility; only POST.'),
    url: z.enum(['/generate/sd', '/generate/sd3']).describe('The endpoint the body is for.'),
    body: z.record(z.string(), z.unknown()).describe('The request body, exactly as that endpoint takes it.'),
  })
  .meta({ title: 'BatchItem', description: 'One line of a JSONL batch (or one element of `requests`).' });

/** One item of a batch upload. */
export type BatchItem = z.output<typeof batchItemSchema>;

const webhookFields = {
  webhook_url: z
    .url({ protocol: /^https?$/ })
    .max(REQUEST_LIMITS.webhookUrlMaxChars)
    .optional()
    .describe("Receives the batch's events (Standard Webhooks signatures). With JSONL, pass it as a query parameter."),
  webhook_events: z
    .array(z.enum(BATCH_WEBHOOK_EVENTS))
    .min(1)
    .optional()
    .meta({
      default: ['completed'],
      description:
        'Batch events to send: `started` (first item started), `progress` (items ended; at most 2 per second), ' +
        '`completed` (every item ended: `batch.completed` with `results_url`), `canceled` (a canceled batch ended). ' +
        "Per-item events come from each item body's own `webhook_url`. With JSONL, a comma-separated query parameter.",
    }),
};

/** The JSON form of `POST /v1/batches`. */
export const batchSubmitSchema = z
  .strictObject({
    requests: z.array(batchItemSchema).min(1).max(DEFAULT_BATCH_MAX_ITEMS).describe('The items, in order.'),
    ...webhookFields,
  })
  .meta({ title: 'BatchSubmit', description: 'A batch as one JSON document (it is still read item by item).' });

/** Batch-level webhook options (JSON members, or query parameters for JSONL). */
export const batchWebhookOptionsSchema = z.strictObject(webhookFields);

/** States of a batch. */
export const BATCH_STATUSES = ['validating', 'in_progress', 'completed', 'canceling', 'canceled'] as const;

/** A line of the upload that was refused. */
export const batchItemErrorSchema = z
  .object({
    index: z.int().min(0).describe('0-based position of the item in the upload.'),
    line: z.int().min(1).describe('1-based line of the body where the item starts.'),
    custom_id: z.string().nullable().describe("The item's custom_id, when it could be read."),
    error: errorInfoSchema
      .extend({
        detail: validationErrorBodySchema.shape.detail
          .optional()
          .describe('Validation failures, FastAPI shape, `loc` inside the item.'),
      })
      .describe('Why the item was refused.'),
  })
  .meta({ title: 'BatchItemError', description: 'An item that was not queued; the other items go on.' });

const count = z.int().min(0);

/** The body of `GET /v1/batches/{id}` (and of the submission's answer). */
export const batchSchema = z
  .object({
    id: z.string(),
    object: z.literal('batch'),
    status: z
      .enum(BATCH_STATUSES)
      .describe('`in_progress` until every item has ended, then `completed`; `canceling` → `canceled` after a cancel.'),
    counts: z
      .object({
        total: count.describe('Items in the upload, refused ones included.'),
        invalid: count.describe('Items refused at upload (see `errors` / the results).'),
        queued: count,
        running: count,
        completed: count,
        failed: count,
        canceled: count,
        reused: count.describe('Items answered by an earlier job with the same custom_id and body (resubmission).'),
      })
      .describe('Items by state.'),
    progress: z
      .object({
        done: count.describe('Items that ended (completed, failed or canceled).'),
        total: count.describe('Items that were queued (valid items).'),
        fraction: z.number().min(0).max(1),
      })
      .describe('How far the batch has come.'),
    created_at: z.iso.datetime({ offset: true }),
    finished_at: z.iso.datetime({ offset: true }).nullable(),
    canceled_at: z.iso.datetime({ offset: true }).nullable(),
    webhook_url: z.string().nullable(),
    webhook_events: z.array(z.string()),
    results_url: z.string().describe('`GET` it for one JSONL line per item.'),
    errors: z
      .array(batchItemErrorSchema)
      .optional()
      .describe("In the submission's answer only: the refused items (first 1000; all of them are in the results)."),
  })
  .meta({ title: 'Batch', description: 'A batch: counts by state and progress.' });

/** A batch document. */
export type Batch = z.output<typeof batchSchema>;

/** One line of `GET /v1/batches/{id}/results`. */
export const batchResultLineSchema = z
  .object({
    custom_id: z.string().nullable(),
    index: count.describe('0-based position of the item in the upload.'),
    line: z.int().min(1).describe('Line of the upload where the item starts.'),
    job_id: z.string().nullable().describe('The render job (null for a refused item).'),
    status: z.enum(['invalid', 'queued', 'running', 'completed', 'failed', 'canceled']),
    seeds: z.array(z.int().min(0).max(MAX_SEED)),
    images: z.array(
      z.object({
        index: count,
        seed: z.int().min(0).max(MAX_SEED),
        url: z.string().nullable().describe('The image bytes; null when removed for safety.'),
        content_type: z.enum([IMAGE_CONTENT_TYPES.jpeg, IMAGE_CONTENT_TYPES.png]),
        ...storageUrlFields,
      }),
    ),
    model: z.string().nullable().describe('The model folder that rendered it.'),
    reused: z.boolean().describe("Answered by an earlier submission's job."),
    finished_at: z.iso
      .datetime({ offset: true })
      .nullable()
      .describe('When the item ended (for this batch); null before.'),
    error: errorInfoSchema.extend({ detail: z.unknown().optional() }).nullable(),
  })
  .meta({ title: 'BatchResultLine', description: 'One item of a batch and what became of it.' });

/** One line of a batch's results. */
export type BatchResultLine = z.output<typeof batchResultLineSchema>;

/** The body of `GET /v1/batches`. */
export const batchListSchema = z
  .object({ batches: z.array(batchSchema) })
  .meta({ title: 'BatchList', description: "The caller's batches, newest first (at most `limit`)." });
