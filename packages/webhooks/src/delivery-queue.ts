/**
 * The `webhooks` BullMQ queue: one job per message, its BullMQ id the message's `webhook-id`
 * (so a message enqueued twice is delivered once), retried with exponential backoff.
 */
import { Queue } from 'bullmq';
import type { RedisClient } from '@kiln/queue';
import { z } from 'zod';
import { deliveryJobOptions } from './backoff.js';

export const WEBHOOK_QUEUE = 'webhooks';

/** What a delivery job carries: the message, never the secret (the key id finds it). */
export const webhookDeliverySchema = z.object({
  /** `webhook-id`: stable across retries. */
  id: z.string().min(1),
  url: z.string().url(),
  /** The API key whose webhook_secret signs ('local' in local mode). */
  keyId: z.string().optional(),
  /** Event type, e.g. `job.completed`, `batch.completed`. */
  type: z.string().min(1),
  /** What the message is about; its attempts are listed under it. */
  subject: z.object({ kind: z.enum(['job', 'batch']), id: z.string().min(1) }),
  /** The exact bytes to sign and send. */
  body: z.string(),
});
export type WebhookDelivery = z.infer<typeof webhookDeliverySchema>;

export interface WebhookQueueOptions {
  prefix: string;
  attempts: number;
  backoffMs: number;
}

export type WebhookQueue = Queue<WebhookDelivery>;

export function createWebhookQueue(connection: RedisClient, options: WebhookQueueOptions): WebhookQueue {
  return new Queue<WebhookDelivery>(WEBHOOK_QUEUE, {
    connection,
    prefix: options.prefix,
    defaultJobOptions: {
      ...deliveryJobOptions(options.attempts, options.backoffMs),
      // The attempt log (attempt-log.ts) is the record; finished delivery jobs only need to live
      // long enough to deduplicate a message enqueued twice.
      removeOnComplete: { age: 24 * 3600, count: 100_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
}
