/**
 * What happens around every render job in a worker, besides rendering it:
 *
 * - Cancellation: the API publishes a canceled job's id on a Redis channel; the worker running it
 *   aborts the job's AbortSignal (BullMQ's `worker.cancelJob`), so the inference thread stops
 *   between two denoising steps and the job fails, unrecoverably, as `canceled`. A job whose
 *   cancel marker is already set when a worker picks it up (a cancel racing with the pick-up, or
 *   a canceled job handed back by a dead worker) fails as `canceled` without rendering.
 * - Usage: when a job ends, its usage is recorded once (see @kiln/queue usage-ledger): in the
 *   processor before BullMQ moves the job (so a crash right after cannot lose it, and a retry
 *   cannot count it twice), and from the worker's `failed` event for jobs BullMQ fails without
 *   running the processor (a job that stalled too often).
 * - Metrics: each attempt's duration, its denoising steps' durations and its images go to the
 *   fleet-wide metrics in Redis that `GET /metrics` reads.
 */
import type { KilnConfig, Logger } from '@kiln/config';
import {
  CANCELED_FAILURE,
  createRedis,
  decodeFailure,
  isCancelRequested,
  kilnKeys,
  recordAttemptMetrics,
  recordJobUsage,
  type JobOutcome,
  type RenderJobData,
  type RenderJobProgress,
  type RenderJobResult,
} from '@kiln/queue';
import { UnrecoverableError, type Job, type Worker } from 'bullmq';

type RenderProcessor = (job: Job, token?: string, signal?: AbortSignal) => Promise<RenderJobResult>;

export interface JobLifecycle {
  /** The processor with cancellation checks and usage recording around it. */
  wrap(processor: RenderProcessor): RenderProcessor;
  /** Starts listening for cancel requests for `worker`'s jobs, and records jobs it fails itself. */
  attach(worker: Worker<RenderJobData, RenderJobResult>): Promise<void>;
  close(): Promise<void>;
}

/** Denoising steps each image of the job takes, as the pipeline reported it (img2img: fewer). */
function stepsPerImage(job: Job): number {
  const progress = job.progress as Partial<RenderJobProgress> | number | undefined;
  if (progress && typeof progress === 'object' && typeof progress.totalSteps === 'number' && progress.totalSteps > 0) {
    return progress.totalSteps;
  }
  const steps = (job.data as RenderJobData).request?.steps;
  return typeof steps === 'number' ? steps : 0;
}

function requestSize(job: Job): { width: number; height: number } {
  const request = ((job.data as RenderJobData).request ?? {}) as { width?: unknown; height?: unknown };
  return {
    width: typeof request.width === 'number' ? request.width : 0,
    height: typeof request.height === 'number' ? request.height : 0,
  };
}

/**
 * Times the denoising steps of a job by watching the progress the processor reports (one report
 * per step of each micro-batch): the time between two consecutive steps of a micro-batch is one
 * step. The first step of each micro-batch is left out (it includes prompt encoding).
 */
function observeSteps(job: Job): number[] {
  const durations: number[] = [];
  let last: { step: number; at: number } | undefined;
  const report = job.updateProgress.bind(job);
  job.updateProgress = (progress) => {
    const step = (progress as Partial<RenderJobProgress> | undefined)?.step;
    if (typeof step === 'number') {
      const now = performance.now();
      if (last && step === last.step + 1) durations.push(now - last.at);
      last = { step, at: now };
    }
    return report(progress);
  };
  return durations;
}

export function createJobLifecycle({ config, logger }: { config: Readonly<KilnConfig>; logger: Logger }): JobLifecycle {
  const prefix = config.queuePrefix;
  const redis = createRedis(config.redisUrl);
  const subscriber = createRedis(config.redisUrl);

  /** Records an attempt's end; retried a few times, because a lost record is lost usage. */
  async function record(job: Job, outcome: JobOutcome, final: boolean, images: number, workerMs: number): Promise<void> {
    const data = job.data as Partial<RenderJobData>;
    const usage = {
      tenant: data.tenant ?? 'unknown',
      keyId: data.keyId ?? data.tenant ?? 'unknown',
      jobId: job.id as string,
      outcome,
      images,
      stepsPerImage: stepsPerImage(job),
      ...requestSize(job),
      workerMs,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        await recordJobUsage(redis, prefix, usage, final);
        return;
      } catch (err) {
        if (attempt >= 3) {
          logger.error({ jobId: job.id, err: (err as Error).message }, 'usage of a job could not be recorded');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  return {
    wrap(processor) {
      // Three declared parameters: BullMQ passes the AbortSignal only to processors that take it.
      return async function processWithLifecycle(job: Job, token?: string, signal?: AbortSignal) {
        const started = performance.now();
        const stepDurationsMs = observeSteps(job);
        const family = (job.data as Partial<RenderJobData>).family ?? 'sd15';
        const measure = (outcome: JobOutcome, images: number) =>
          recordAttemptMetrics(redis, prefix, { family, outcome, durationMs: performance.now() - started, stepDurationsMs, images }).catch(
            (err: Error) => logger.warn({ jobId: job.id, err: err.message }, 'job metrics not recorded'),
          );
        let result: RenderJobResult;
        try {
          if (await isCancelRequested(redis, prefix, job.id as string)) throw new UnrecoverableError(CANCELED_FAILURE);
          result = await processor(job, token, signal);
        } catch (err) {
          const canceled = err instanceof Error && decodeFailure(err.message).code === 'canceled';
          const final = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
          await record(job, canceled ? 'canceled' : 'failed', final, 0, performance.now() - started);
          await measure(canceled ? 'canceled' : 'failed', 0);
          throw err;
        }
        await record(job, 'completed', true, result.images.length, performance.now() - started);
        await measure('completed', result.images.length);
        return result;
      };
    },

    async attach(worker) {
      const channel = kilnKeys(prefix).cancelChannel;
      subscriber.on('message', (received: string, jobId: string) => {
        if (received !== channel) return;
        if (worker.cancelJob(jobId, 'canceled')) logger.info({ jobId }, 'canceling running job');
      });
      await subscriber.subscribe(channel);
      worker.on('failed', (job) => {
        // `finishedOn` is set only when the failure is final (no retry follows).
        if (!job?.finishedOn) return;
        const canceled = decodeFailure(job.failedReason).code === 'canceled';
        void record(job, canceled ? 'canceled' : 'failed', true, 0, 0);
      });
    },

    async close() {
      await subscriber.quit().catch(() => subscriber.disconnect());
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
