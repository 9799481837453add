/**
 * A render worker's job transitions, handed to the job lifecycle (@kiln/jobs), plus the webhook
 * delivery worker and the end reconciler that run in the same process. Everything hangs off
 * BullMQ's worker events, which fire after BullMQ has stored the transition, so the processor
 * stays about rendering and image URLs in `completed` webhooks already work:
 *
 * - `active`    → `started`; a batch item moves the fair-share virtual time (docs/fairness.md)
 * - `completed` → `ended` (completed)
 * - `failed`    → `ended` (failed / canceled) when the failure is final; `retrying` when BullMQ
 *                 will try again (a failed attempt that will be retried is not an end)
 *
 * Progress is not an event here: the processor reports it through its attempt context
 * (render-attempt.ts).
 */
import { isCanceledReason, type RenderJobData, type RenderJobResult } from '@kiln/contracts';
import type { KilnConfig, Logger } from '@kiln/config';
import type { JobServices } from '@kiln/jobs';
import { fairPriority } from '@kiln/state';
import { jobSnapshot, startWebhookWorker } from '@kiln/webhooks';
import { Job, type Worker } from 'bullmq';
import type { RedisClient } from '@kiln/queue';
import { startEndReconciler } from './end-reconciler.js';

export interface JobEvents {
  close(): Promise<void>;
}

type RenderJob = Job<RenderJobData, RenderJobResult>;

/** A failure after which BullMQ will not try again. */
export function isFinalFailure(job: RenderJob, err: Error): boolean {
  return Boolean(job.finishedOn) || err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
}

export function startJobEvents(
  worker: Worker<RenderJobData, RenderJobResult>,
  {
    config,
    logger,
    commands,
    jobs,
  }: { config: Readonly<KilnConfig>; logger: Logger; commands: RedisClient; jobs: JobServices },
): JobEvents {
  const { lifecycle, fair } = jobs;
  const delivery = startWebhookWorker({ config, logger, commands });
  const stopReconciler = startEndReconciler({
    queue: jobs.queue,
    lifecycle,
    logger,
    everyMs: config.endReconcileMs,
    settleMs: Math.min(10_000, config.endReconcileMs),
  });

  // Events must never take the worker down: a Redis hiccup here loses a notification, not a job
  // (the reconciler replays ends). Pending ones are awaited on close, so the last job's end is
  // recorded before Redis goes.
  const pending = new Set<Promise<unknown>>();
  const safely = (what: string, jobId: string | undefined, work: () => Promise<unknown>) => {
    const tracked = Promise.resolve()
      .then(work)
      .catch((err: Error) => logger.error({ jobId, err: err.message }, `${what} failed`));
    pending.add(tracked);
    void tracked.finally(() => pending.delete(tracked));
  };

  let rebasing = false;
  const rebaseIfDue = async () => {
    if (rebasing || !(await fair.rebaseDue())) return;
    rebasing = true;
    try {
      const moved = await fair.rebase(async (jobId, base) => {
        const job = (await Job.fromId(worker, jobId)) as RenderJob | undefined;
        if (job?.data.fairTag !== undefined)
          await job.changePriority({ priority: fairPriority(job.data.fairTag, base) });
      }, worker.toKey('prioritized'));
      logger.info({ moved }, 'fair-share clock rebased');
    } finally {
      rebasing = false;
    }
  };

  worker.on('active', (job) => {
    safely('started event', job.id, async () => {
      const snapshot = jobSnapshot(job);
      await lifecycle.started(snapshot);
      if (snapshot.data.fairTag !== undefined) await rebaseIfDue();
    });
  });
  worker.on('completed', (job, result) => {
    safely('completed event', job.id, () => lifecycle.ended(jobSnapshot(job), { status: 'completed', result }));
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    if (!isFinalFailure(job, err)) {
      safely('retry bookkeeping', job.id, () => lifecycle.retrying(jobSnapshot(job)));
      return;
    }
    const status = isCanceledReason(job.failedReason) ? 'canceled' : 'failed';
    safely(`${status} event`, job.id, () => lifecycle.ended(jobSnapshot(job), { status }));
  });

  return {
    async close() {
      await stopReconciler();
      await Promise.all(pending);
      await delivery.close();
    },
  };
}
