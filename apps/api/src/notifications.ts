/**
 * The API's side of webhooks and batches: the batch store, the fair-share clock, the webhook
 * signing secrets (to refuse a `webhook_url` that could never be signed) and the notifier that
 * queues webhook messages for jobs and batches that end without a worker (canceled while
 * waiting, or a resubmitted batch whose items were all done already).
 */
import type { KilnConfig, Logger } from '@kiln/config';
import { BatchStore, FairShare, recordJobUsage, type RenderJobData, type RenderQueue } from '@kiln/queue';
import { JobNotifier, WebhookSecrets, createWebhookQueue, type WebhookQueue } from '@kiln/webhooks';
import type { Redis } from 'ioredis';

export interface Notifications {
  batches: BatchStore;
  fair: FairShare;
  notifier: JobNotifier;
  secrets: WebhookSecrets;
  /**
   * A job was canceled while waiting (no worker will ever see it): record its usage (which gives
   * its max_queued_jobs slot back), send its `canceled` webhook and count it in its batch.
   */
  canceledWhileWaiting(jobId: string): Promise<void>;
  close(): Promise<void>;
}

export function createNotifications(redis: Redis, queue: RenderQueue, config: Readonly<KilnConfig>, logger: Logger): Notifications {
  const prefix = config.queuePrefix;
  const webhooks: WebhookQueue = createWebhookQueue(redis, { prefix, attempts: config.webhookAttempts, backoffMs: config.webhookBackoffMs });
  const batches = new BatchStore(redis, prefix, config.resultTtlMs);
  const fair = new FairShare(redis, { prefix });
  const notifier = new JobNotifier({ redis, prefix, webhooks, batches, fair, logger, logTtlMs: config.resultTtlMs });
  return {
    batches,
    fair,
    notifier,
    secrets: new WebhookSecrets({ keysFile: config.keysFile, localSecret: config.webhookSecret }),
    async canceledWhileWaiting(jobId) {
      const job = await queue.getJob(jobId);
      if (!job) return;
      const data = job.data as RenderJobData;
      const request = data.request as { width?: number; height?: number; steps?: number };
      await recordJobUsage(
        redis,
        prefix,
        {
          tenant: data.tenant,
          keyId: data.keyId ?? data.tenant,
          jobId,
          outcome: 'canceled',
          images: 0,
          stepsPerImage: request.steps ?? 0,
          width: request.width ?? 0,
          height: request.height ?? 0,
          workerMs: 0,
        },
        true,
      );
      await notifier.ended(
        { id: jobId, data, returnvalue: null, failedReason: job.failedReason, progress: job.progress },
        { status: 'canceled' },
      );
    },
    close: () => webhooks.close(),
  };
}
