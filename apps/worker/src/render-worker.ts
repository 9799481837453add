import type { KilnConfig, Logger } from '@kiln/config';
import type { RenderJobData, RenderJobResult } from '@kiln/contracts';
import { DiffusionThread } from '@kiln/diffusion';
import { createJobServices } from '@kiln/jobs';
import { RENDER_QUEUE, createRedis } from '@kiln/queue';
import { createStore } from '@kiln/storage';
import { Worker } from 'bullmq';
import path from 'node:path';
import { startCapacityAnnouncer } from './capacity.js';
import { startBacklogUpkeep } from './backlog-upkeep.js';
import { startFleetPresence } from './fleet-presence.js';
import { startJobEvents } from './job-events.js';
import { createRenderAttempts } from './render-attempt.js';
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

/** The stalled check is one small script over the active list: cheap enough to run this often. */
const STALLED_CHECK_MAX_MS = 5000;

/**
 * Starts a render worker: loads the default model, then builds everything that records a job's
 * life (attempt accounting, cancel listener, job events, webhook delivery) and only then starts
 * consuming, so the first job picked up is bookkept like every other.
 */
export async function startRenderWorker({ config, logger, warm = true }: RenderWorkerOptions): Promise<RenderWorker> {
  const connection = createRedis(config.redisUrl);
  const commands = createRedis(config.redisUrl);
  const store = createStore(config.storage, config.dataDir);
  const thread = new DiffusionThread({
    executionProvider: config.executionProvider,
    intraOpThreads: config.intraOpThreads,
    ...(config.optimizedModelCacheDir !== undefined && { optimizedModelCacheDir: config.optimizedModelCacheDir }),
    ...(config.modelCacheBytes !== undefined && { modelCacheBytes: config.modelCacheBytes }),
  });
  // The default model's memory profile, published with the worker's budget once it is loaded.
  const profile = warm
    ? await thread.warm(path.join(config.modelsDir, config.sd15Model)).catch(async (err: Error) => {
        // A provider asked for by name that cannot run here would fail every job: do not start.
        if (err.name === 'ExecutionProviderError') {
          await thread.close();
          commands.disconnect();
          connection.disconnect();
          throw err;
        }
        logger.warn({ err: err.message }, 'default model could not be preloaded');
        return undefined;
      })
    : undefined;
  // The provider as the inference thread resolved it: `auto` names the one it chose once loaded.
  const presence = startFleetPresence(commands, {
    config,
    logger,
    executionProvider: () => thread.executionProvider,
  });
  if (profile) presence.modelLoaded(config.sd15Model);
  const jobs = createJobServices(commands, config, logger);
  const attempts = createRenderAttempts({ config, logger, lifecycle: jobs.lifecycle, presence });
  const worker = new Worker<RenderJobData, RenderJobResult>(
    RENDER_QUEUE,
    attempts.wrap(createRenderProcessor({ config, store, thread, logger })),
    {
      connection,
      prefix: config.queuePrefix,
      autorun: false,
      // One render at a time per inference thread: a render already uses every core (or the GPU).
      concurrency: config.workerConcurrency,
      // A crashed worker's job goes back to the queue once its lock lapses (at most `lockDuration`
      // after the worker's last renewal) and the next stalled check runs: it shows `running` for
      // at most lockDuration + stalledInterval (docs/reliability.md).
      lockDuration: config.jobLockMs,
      stalledInterval: Math.max(500, Math.min(STALLED_CHECK_MAX_MS, Math.round(config.jobLockMs / 2))),
      // A worker dying is an attempt like any other failure: the job is retried within the same
      // budget, and a job that keeps killing workers ends failed (render-attempt.ts fails it with
      // a clear reason at the pick-up after its last attempt; BullMQ's own limit is only a backstop).
      maxStalledCount: config.jobAttempts,
    },
  );
  const stopSweeper = startRetentionSweeper(store, config.resultTtlMs, logger);
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, err: err.message }, 'job failed'));
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  await attempts.attach(worker);
  const events = startJobEvents(worker, { config, logger, commands, jobs });
  const stopBacklogUpkeep = startBacklogUpkeep(worker, commands, { config, logger });
  const running = worker.run().catch((err: Error) => logger.error({ err: err.message }, 'worker stopped'));
  const stopAnnouncing = profile
    ? startCapacityAnnouncer(commands, { config, logger, profile })
    : async () => undefined;

  return {
    worker,
    async close() {
      stopSweeper();
      await stopAnnouncing();
      await worker.close();
      await running;
      await attempts.close();
      await events.close();
      await stopBacklogUpkeep();
      await presence.close();
      await jobs.close();
      await thread.close();
      await commands.quit().catch(() => commands.disconnect());
      connection.disconnect();
    },
  };
}
