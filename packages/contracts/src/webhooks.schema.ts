import { z } from 'zod';
import { WEBHOOK_EVENTS } from './webhook-events.js';

/** One delivery attempt of a webhook message. */
export const webhookAttemptSchema = z
  .object({
    attempt: z.int().min(1).describe('1 for the first try.'),
    at: z.iso.datetime({ offset: true }).describe('When the attempt started.'),
    status_code: z.int().nullable().describe("The receiver's HTTP status; null when no answer came."),
    error: z
      .string()
      .nullable()
      .describe('Why there was no usable answer: timeout, connection refused, refused address, …'),
    duration_ms: z.number().min(0).nullable(),
    next_attempt_at: z.iso
      .datetime({ offset: true })
      .nullable()
      .describe('When the next attempt is due; null when none will follow.'),
  })
  .meta({ title: 'WebhookAttempt' });

/** One webhook message and its attempts. */
export const webhookDeliverySchema = z
  .object({
    webhook_id: z.string().describe('The `webhook-id` header: the same on every attempt.'),
    type: z
      .string()
      .describe('`job.started`, `job.progress`, `job.completed`, `job.failed`, `job.canceled`, `batch.*`.'),
    url: z.string(),
    status: z
      .enum(['pending', 'delivered', 'failed'])
      .describe('`failed`: every attempt failed (or the target was refused).'),
    attempts: z.array(webhookAttemptSchema),
  })
  .meta({ title: 'WebhookDelivery', description: 'A webhook message and every attempt to deliver it.' });

/** The body of `GET /v1/jobs/{id}/webhooks` and `GET /v1/batches/{id}/webhooks`. */
export const webhookDeliveriesSchema = z
  .object({
    id: z.string().describe('The job or batch.'),
    deliveries: z.array(webhookDeliverySchema).describe('Messages in the order they were queued.'),
  })
  .meta({ title: 'WebhookDeliveries', description: 'Webhook messages of a job or batch and their delivery attempts.' });

/** The JSON body Kiln POSTs to a job's `webhook_url`. */
export const jobWebhookPayloadSchema = z
  .object({
    type: z.enum(WEBHOOK_EVENTS.map((e) => `job.${e}` as const) as [`job.${(typeof WEBHOOK_EVENTS)[number]}`]),
    timestamp: z.iso.datetime({ offset: true }).describe('When the event happened (the same on every attempt).'),
    data: z
      .object({
        id: z.string(),
        status: z.enum(['running', 'completed', 'failed', 'canceled']),
        custom_id: z.string().nullable(),
        batch_id: z.string().nullable(),
        progress: z.object({ step: z.int(), total_steps: z.int(), images_done: z.int(), num_images: z.int() }),
        seeds: z.array(z.int()),
        prediction_time_ms: z.number().optional().describe('`job.completed` only.'),
        model: z.string().optional().describe('`job.completed` only.'),
        images: z
          .array(
            z.object({
              index: z.int(),
              seed: z.int(),
              url: z.string().nullable(),
              content_type: z.string(),
              removed_for_safety: z.boolean(),
            }),
          )
          .optional()
          .describe('`job.completed` only.'),
        error: z.object({ code: z.string(), message: z.string() }).nullable(),
        job_url: z.string(),
      })
      .describe('The job, as `GET /v1/jobs/{id}` shows it.'),
  })
  .meta({ title: 'JobWebhookPayload', description: 'A job event, signed per Standard Webhooks.' });

/** The JSON body Kiln POSTs to a batch's `webhook_url`. */
export const batchWebhookPayloadSchema = z
  .object({
    type: z.enum(['batch.started', 'batch.progress', 'batch.completed', 'batch.canceled']),
    timestamp: z.iso.datetime({ offset: true }),
    data: z.object({
      id: z.string(),
      status: z.string(),
      counts: z.record(z.string(), z.int()),
      created_at: z.string(),
      finished_at: z.string().nullable(),
      batch_url: z.string(),
      results_url: z.string().describe('`GET` it for one JSONL line per item.'),
    }),
  })
  .meta({ title: 'BatchWebhookPayload', description: 'A batch event, signed per Standard Webhooks.' });
