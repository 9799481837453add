/**
 * The job services the API and the workers share, built one way: the render queue, the batch
 * store, the fair-share clock, the webhook queue and the job lifecycle that ties them together.
 * `redis` is a shared command connection; the caller owns it (and the queue's blocking
 * connections are BullMQ's own).
 */
import type { KilnConfig, Logger } from '@kiln/config';
import { createRenderQueue, type RenderQueue } from '@kiln/queue';
import { BatchStore, FairShare } from '@kiln/state';
import { createWebhookQueue, type WebhookQueue } from '@kiln/webhooks';
import type { RedisClient } from '@kiln/queue';
import { trackBacklog } from './backlog-tracking.js';
import { JobLifecycle } from './job-lifecycle.js';

export interface JobServices {
  queue: RenderQueue;
  batches: BatchStore;
  fair: FairShare;
  webhooks: WebhookQueue;
  lifecycle: JobLifecycle;
  close(): Promise<void>;
}

export function createJobServices(redis: RedisClient, config: Readonly<KilnConfig>, logger: Logger): JobServices {
  const prefix = config.queuePrefix;
  const queue = trackBacklog(
    createRenderQueue(redis, { prefix, attempts: config.jobAttempts, retentionMs: config.resultTtlMs }),
    redis,
    prefix,
    logger,
  );
  const webhooks = createWebhookQueue(redis, {
    prefix,
    attempts: config.webhookAttempts,
    backoffMs: config.webhookBackoffMs,
  });
  const batches = new BatchStore(redis, prefix, config.resultTtlMs);
  const fair = new FairShare(redis, { prefix });
  const lifecycle = new JobLifecycle({ redis, prefix, webhooks, batches, fair, logger, logTtlMs: config.resultTtlMs });
  return {
    queue,
    batches,
    fair,
    webhooks,
    lifecycle,
    async close() {
      await webhooks.close();
      await queue.close();
    },
  };
}
