import type { KilnConfig, Logger } from '@kiln/config';
import { createRedis } from '@kiln/queue';
import { Worker } from 'bullmq';
import type { RedisClient } from '@kiln/queue';
import { WEBHOOK_QUEUE, type WebhookDelivery } from './delivery-queue.js';
import { createWebhookDeliveryProcessor } from './webhook-delivery.processor.js';
import { WebhookSecrets } from './webhook-secrets.js';

export interface WebhookWorker {
  worker: Worker<WebhookDelivery>;
  close(): Promise<void>;
}

/**
 * The delivery worker: its own BullMQ Worker on the `webhooks` queue, run inside every render
 * worker process (and `kiln start`). Deliveries are I/O only, so many run at once.
 * `commands` is a shared connection for the attempt log; the worker opens (and closes) its own.
 */
export function startWebhookWorker({
  config,
  logger,
  commands,
}: {
  config: Readonly<KilnConfig>;
  logger: Logger;
  commands: RedisClient;
}): WebhookWorker {
  const connection = createRedis(config.redisUrl);
  const processor = createWebhookDeliveryProcessor({
    redis: commands,
    prefix: config.queuePrefix,
    secrets: new WebhookSecrets({ keysFile: config.keysFile, localSecret: config.webhookSecret }),
    logger,
    allowPrivate: config.webhookAllowPrivate,
    timeoutMs: config.webhookTimeoutMs,
    backoffMs: config.webhookBackoffMs,
    logTtlMs: config.resultTtlMs,
  });
  const worker = new Worker<WebhookDelivery>(WEBHOOK_QUEUE, processor, {
    connection,
    prefix: config.queuePrefix,
    concurrency: config.webhookConcurrency,
    // An attempt is bounded by the timeout; the lock only has to outlive it.
    lockDuration: Math.max(30_000, config.webhookTimeoutMs * 3),
  });
  worker.on('error', (err) => logger.error({ err: err.message }, 'webhook worker error'));
  worker.on('failed', (job, err) => {
    if (job && (job.finishedOn || err.name === 'UnrecoverableError')) {
      // the origin only: a webhook URL's path or query may carry the receiver's token
      const origin = URL.canParse(job.data.url) ? new URL(job.data.url).origin : '[unparsable]';
      logger.warn({ webhookId: job.data.id, origin, err: err.message }, 'webhook given up');
    }
  });
  return {
    worker,
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
