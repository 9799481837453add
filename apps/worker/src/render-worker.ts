import type { KilnConfig, Logger } from '@kiln/config';
import { DiffusionThread } from '@kiln/diffusion';
import { RENDER_QUEUE, createRedis, type RenderJobData, type RenderJobResult } from '@kiln/queue';
import { FileStore } from '@kiln/storage';
import { Worker } from 'bullmq';
import path from 'node:path';
import { startJobEvents } from './job-events.js';
import { createJobLifecycle } from './job-lifecycle.js';
import { createRenderProcessor } from './render.processor.js';
import { startRetentionSweeper } from './retention.js';

export interface RenderWorker {
  worker: Worker<RenderJobData, RenderJobResult>;
  /** Stops taking jobs, lets the current one finish (or hands it back), releases sessions and Redis. */
  close(): Promise<void>;
}

export interface RenderWorkerOptions {
  config: Readonly<KilnConfig>;
  logger: Logger;
  /** Load the default model before taking the first job. */
  warm?: boolean;
}

export async function startRenderWorker({ config, logger, warm = true }: RenderWorkerOptions): Promise<RenderWorker> {
  const connection = createRedis(config.redisUrl);
  const store = new FileStore(config.dataDir);
  const thread = new DiffusionThread({
    executionProvider: config.executionProvider,
    intraOpThreads: config.intraOpThreads,
  });
  if (warm) {
    await thread.warm(path.join(config.modelsDir, config.sd15Model)).catch((err: Error) => {
      logger.warn({ err: err.message }, 'default model could not be preloaded');
    });
  }
  const lifecycle = createJobLifecycle({ config, logger });
  const worker = new Worker<RenderJobData, RenderJobResult>(
    RENDER_QUEUE,
    lifecycle.wrap(createRenderProcessor({ config, store, thread, logger })),
    {
      connection,
      prefix: config.queuePrefix,
      // One render at a time per inference thread: a render already uses every core (or the GPU).
      concurrency: config.workerConcurrency,
      // A crashed worker's job goes back to the queue after this long without a lock renewal.
      lockDuration: config.jobLockMs,
      stalledInterval: Math.max(500, Math.round(config.jobLockMs / 2)),
      maxStalledCount: 2,
    },
  );
  const stopSweeper = startRetentionSweeper(store, config.resultTtlMs, logger);
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, err: err.message }, 'job failed'));
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  await lifecycle.attach(worker);
  // Webhooks, batch counters, fair-share clock, and the webhook delivery worker (job-events.ts).
  const events = startJobEvents(worker, { config, logger });

  return {
    worker,
    async close() {
      stopSweeper();
      await worker.close();
      await lifecycle.close();
      await events.close();
      await thread.close();
      connection.disconnect();
    },
  };
}
