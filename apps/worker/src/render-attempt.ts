/**
 * What happens around every attempt at a render job in a worker, besides rendering it:
 *
 * - Cancellation: the API publishes a canceled job's id on a Redis channel; the worker running it
 *   aborts the job's AbortSignal (BullMQ's `worker.cancelJob`), so the inference thread stops
 *   between two denoising steps and the job fails, unrecoverably, as `canceled`. A job whose
 *   cancel marker is already set when a worker picks it up (a cancel racing with the pick-up, or
 *   a canceled job handed back by a dead worker) fails as `canceled` without rendering.
 * - Progress: the processor calls `reportProgress` once per denoising step; it is stored on the
 *   job, timed for the step-duration metrics, and handed to the job lifecycle (progress webhooks;
 *   an item of a batch being canceled is stopped).
 * - Accounting: each attempt's worker time goes to the job's usage account (counted when the job
 *   ends, by the job lifecycle), its duration, steps and images to the fleet metrics.
 */
import {
  decodeFailure,
  encodeFailure,
  type JobFailure,
  type RenderJobProgress,
  type RenderJobResult,
} from '@kiln/contracts';
import type { KilnConfig, Logger } from '@kiln/config';
import type { RenderProgress, RenderStage } from '@kiln/diffusion';
import type { JobLifecycle } from '@kiln/jobs';
import { CANCELED_FAILURE, cancelKeys, createRedis, isCancelRequested, type RenderJob } from '@kiln/queue';
import { recordAttemptMetrics, recordAttemptTime, resolutionClass, type JobOutcome } from '@kiln/state';
import { jobSnapshot } from '@kiln/webhooks';
import { UnrecoverableError, type Worker } from 'bullmq';
import { modelLabel, type FleetPresence } from './fleet-presence.js';

/** What the processor gets besides the job. */
export interface AttemptContext {
  /** Aborted when the job is canceled. */
  signal?: AbortSignal;
  /** Called by the pipeline after each denoising step. */
  reportProgress(progress: RenderProgress): void;
  /** Called when the render enters a stage other than denoising (loading a new asset set). */
  reportStage(stage: RenderStage): void;
}

export type RenderProcessor = (job: RenderJob, attempt: AttemptContext) => Promise<RenderJobResult>;
type BullProcessor = (job: RenderJob, token?: string, signal?: AbortSignal) => Promise<RenderJobResult>;

export interface RenderAttempts {
  /** The processor as BullMQ calls it, with everything above around it. */
  wrap(processor: RenderProcessor): BullProcessor;
  /** Starts listening for cancel requests for `worker`'s jobs. */
  attach(worker: Worker): Promise<void>;
  close(): Promise<void>;
}

/**
 * The progress hook of one attempt. Times the denoising steps: the time between two consecutive
 * steps of a micro-batch is one step; the first step of each micro-batch is left out (it includes
 * prompt encoding).
 */
function progressReporter(job: RenderJob, onReport: (progress: RenderJobProgress) => void) {
  const stepDurationsMs: number[] = [];
  let last: { step: number; at: number } | undefined;
  return {
    stepDurationsMs,
    report(progress: RenderProgress) {
      const now = performance.now();
      if (last && progress.step === last.step + 1) stepDurationsMs.push(now - last.at);
      last = { step: progress.step, at: now };
      const stored: RenderJobProgress = { ...progress };
      job.updateProgress(stored as unknown as object).then(
        () => onReport(stored),
        () => undefined,
      );
    },
    /** A stage before the first step: stored on the job (GET /v1/jobs/{id} shows it), not timed. */
    stage(stage: RenderStage) {
      const stored: Partial<RenderJobProgress> = { stage };
      job.updateProgress(stored).catch(() => undefined);
    },
  };
}

/**
 * A job whose attempts were all used up by workers that died under it (killed, crashed, out of
 * memory) fails here, at its next pick-up, with a failure that says so. BullMQ counts a worker's
 * death as a stall, not as an attempt; a job that kills every worker taking it (a poison job)
 * would otherwise go round the fleet until BullMQ's stall limit, whose message names no cause.
 * Every pick-up counts (`attemptsStarted`), so failures and deaths share the one budget.
 */
export function attemptsSpent(job: RenderJob): JobFailure | undefined {
  const budget = job.opts.attempts ?? 1;
  if (job.attemptsStarted <= budget) return undefined;
  const died = job.stalledCounter;
  return {
    code: 'internal_error',
    message:
      `the job was not retried again after ${budget} attempts: the worker rendering it stopped ` +
      `(killed, crashed or out of memory) during ${died} of them`,
  };
}

/**
 * What every log line about a job carries: ids and the tenant, never the prompt or an image (the
 * API's access line for the request that created it carries the same `jobId`).
 */
export function jobLogContext(job: RenderJob): Record<string, string | number> {
  return {
    jobId: job.id as string,
    tenant: job.data.tenant,
    keyId: job.data.keyId,
    ...(job.data.batchId && { batchId: job.data.batchId }),
    attempt: job.attemptsStarted,
  };
}

export function createRenderAttempts({
  config,
  logger,
  lifecycle,
  presence,
}: {
  config: Readonly<KilnConfig>;
  logger: Logger;
  lifecycle: JobLifecycle;
  /** The worker's fleet entry: its current job, busy time and throughput. */
  presence?: Pick<FleetPresence, 'attemptStarted' | 'attemptEnded'>;
}): RenderAttempts {
  const prefix = config.queuePrefix;
  const redis = createRedis(config.redisUrl);
  const subscriber = createRedis(config.redisUrl);
  let worker: Worker | undefined;

  /** Progress webhooks; an item of a batch being canceled is stopped at its next step. */
  const onProgress = (job: RenderJob) => () => {
    lifecycle
      .progress(jobSnapshot(job))
      .then(({ batchCanceled }) => {
        if (batchCanceled && worker?.cancelJob(job.id as string, 'batch canceled')) {
          logger.info({ jobId: job.id }, 'stopping an item of a canceled batch');
        }
      })
      .catch((err: Error) => logger.warn({ jobId: job.id, err: err.message }, 'progress event failed'));
  };

  async function account(
    job: RenderJob,
    outcome: JobOutcome,
    started: number,
    stepDurationsMs: number[],
    images: number,
  ) {
    const durationMs = performance.now() - started;
    presence?.attemptEnded(job.id as string, job.data, outcome === 'completed', durationMs);
    logger.info({ ...jobLogContext(job), outcome, ms: Math.round(durationMs) }, 'attempt ended');
    try {
      await recordAttemptTime(redis, prefix, job.id as string, durationMs);
      await recordAttemptMetrics(redis, prefix, {
        family: job.data.family,
        model: modelLabel(config, job.data),
        resolution: resolutionClass(job.data.request.width, job.data.request.height),
        outcome,
        durationMs,
        stepDurationsMs,
        images,
      });
    } catch (err) {
      logger.warn({ jobId: job.id, err: (err as Error).message }, 'attempt accounting not recorded');
    }
  }

  return {
    wrap(processor) {
      // Three declared parameters: BullMQ passes the AbortSignal only to processors that take it.
      return async function processAttempt(job: RenderJob, _token?: string, signal?: AbortSignal) {
        const started = performance.now();
        presence?.attemptStarted(job.id as string);
        logger.info(jobLogContext(job), 'attempt started');
        const progress = progressReporter(job, onProgress(job));
        let result: RenderJobResult;
        try {
          if (await isCancelRequested(redis, prefix, job.id as string)) throw new UnrecoverableError(CANCELED_FAILURE);
          const spent = attemptsSpent(job);
          if (spent) throw new UnrecoverableError(encodeFailure(spent));
          result = await processor(job, { signal, reportProgress: progress.report, reportStage: progress.stage });
        } catch (err) {
          const canceled = err instanceof Error && decodeFailure(err.message).code === 'canceled';
          await account(job, canceled ? 'canceled' : 'failed', started, progress.stepDurationsMs, 0);
          throw err;
        }
        await account(job, 'completed', started, progress.stepDurationsMs, result.images.length);
        return result;
      };
    },

    async attach(target) {
      worker = target;
      const { channel } = cancelKeys(prefix);
      subscriber.on('message', (received: string, jobId: string) => {
        if (received !== channel) return;
        if (target.cancelJob(jobId, 'canceled')) logger.info({ jobId }, 'canceling running job');
      });
      await subscriber.subscribe(channel);
    },

    async close() {
      await subscriber.quit().catch(() => subscriber.disconnect());
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
