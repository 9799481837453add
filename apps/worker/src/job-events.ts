/**
 * A render worker's job transitions, turned into webhooks, batch bookkeeping and fair-share
 * clock ticks (see @kiln/webhooks JobNotifier), plus the webhook delivery worker that runs in the
 * same process. Everything hangs off BullMQ's worker events, so the processor stays about
 * rendering:
 *
 * - `active`    → `started`; a batch item moves the fair-share virtual time (docs/fairness.md)
 * - `progress`  → `progress` (at most 2 per second per job); an item of a canceled batch is stopped
 * - `completed` → `completed` (BullMQ has stored the result by then, so image URLs work)
 * - `failed`    → `failed` / `canceled`, only when the failure is final: a failed attempt that
 *                 will be retried is not an end
 */
import type { KilnConfig, Logger } from '@kiln/config';
import {
  BatchStore,
  FairShare,
  createRedis,
  decodeFailure,
  fairPriority,
  type RenderJobData,
  type RenderJobResult,
} from '@kiln/queue';
import { JobNotifier, createWebhookQueue, jobSnapshot, startWebhookWorker } from '@kiln/webhooks';
import { Job, type Worker } from 'bullmq';
import { startEndReconciler } from './end-reconciler.js';

export interface JobEvents {
  notifier: JobNotifier;
  close(): Promise<void>;
}

type RenderJob = Job<RenderJobData, RenderJobResult>;


/** A failure after which BullMQ will not try again. */
export function isFinalFailure(job: RenderJob, err: Error): boolean {
  return Boolean(job.finishedOn) || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
}

export function startJobEvents(
  worker: Worker<RenderJobData, RenderJobResult>,
  { config, logger }: { config: Readonly<KilnConfig>; logger: Logger },
): JobEvents {
  const prefix = config.queuePrefix;
  const commands = createRedis(config.redisUrl);
  const webhooks = createWebhookQueue(commands, { prefix, attempts: config.webhookAttempts, backoffMs: config.webhookBackoffMs });
  const batches = new BatchStore(commands, prefix, config.resultTtlMs);
  const fair = new FairShare(commands, { prefix });
  const notifier = new JobNotifier({ redis: commands, prefix, webhooks, batches, fair, logger, logTtlMs: config.resultTtlMs });
  const delivery = startWebhookWorker({ config, logger, commands });
  const stopReconciler = startEndReconciler({
    connection: commands,
    prefix,
    notifier,
    logger,
    everyMs: config.endReconcileMs,
    settleMs: Math.min(10_000, config.endReconcileMs),
  });

  // Events must never take the worker down: a Redis hiccup here loses a notification, not a job.
  // Pending ones are awaited on close, so the last job's end is recorded before Redis goes.
  const pending = new Set<Promise<unknown>>();
  const safely = (what: string, jobId: string | undefined, work: Promise<unknown>) => {
    const tracked = work.catch((err: Error) => logger.error({ jobId, err: err.message }, `${what} failed`));
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
    return tracked;
  };

  let rebasing = false;
  const rebaseIfDue = async () => {
    if (rebasing || !(await fair.rebaseDue())) return;
    rebasing = true;
    try {
      const moved = await fair.rebase(async (jobId, base) => {
        const job = (await Job.fromId(worker, jobId)) as RenderJob | undefined;
        if (job?.data.fairTag !== undefined) await job.changePriority({ priority: fairPriority(job.data.fairTag, base) });
      }, worker.toKey('prioritized'));
      logger.info({ moved }, 'fair-share clock rebased');
    } finally {
      rebasing = false;
    }
  };

  worker.on('active', (job) => {
    void safely('started event', job.id, notifier.started(jobSnapshot(job)).then(() => (job.data.fairTag !== undefined ? rebaseIfDue() : undefined)));
  });
  worker.on('progress', (job) => {
    void safely(
      'progress event',
      job.id,
      notifier.progress(jobSnapshot(job)).then(({ batchCanceled }) => {
        if (batchCanceled && worker.cancelJob(job.id as string, 'batch canceled')) logger.info({ jobId: job.id }, 'stopping an item of a canceled batch');
      }),
    );
  });
  worker.on('completed', (job, result) => {
    void safely('completed event', job.id, notifier.ended(jobSnapshot(job), { status: 'completed', result }));
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    if (!isFinalFailure(job, err)) {
      void safely('retry bookkeeping', job.id, notifier.retrying(jobSnapshot(job)));
      return;
    }
    const status = decodeFailure(job.failedReason).code === 'canceled' ? 'canceled' : 'failed';
    void safely(`${status} event`, job.id, notifier.ended(jobSnapshot(job), { status }));
  });

  return {
    notifier,
    async close() {
      await stopReconciler();
      await Promise.all(pending);
      await delivery.close();
      await webhooks.close();
      await commands.quit().catch(() => commands.disconnect());
    },
  };
}
