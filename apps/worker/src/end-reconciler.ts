/**
 * A job's end bookkeeping (usage, batch counters, `completed`/`failed` webhooks) hangs off BullMQ's
 * worker events, which run just after BullMQ has stored a job's end. A worker killed in between
 * would leave that job uncounted and its batch `in_progress` forever. This pass replays the end of
 * every recently finished job through the job lifecycle, whose `ended` is idempotent (usage is
 * counted once, a batch counts an item once, a webhook message is queued once).
 */
import { isCanceledReason } from '@kiln/contracts';
import type { Logger } from '@kiln/config';
import type { JobLifecycle } from '@kiln/jobs';
import { MalformedJobError, type RenderJob, type RenderQueue } from '@kiln/queue';
import { jobSnapshot } from '@kiln/webhooks';

export interface EndReconcilerOptions {
  queue: RenderQueue;
  lifecycle: JobLifecycle;
  logger: Logger;
  /** How often a pass runs. */
  everyMs?: number;
  /** Jobs younger than this are left to the live event handler. */
  settleMs?: number;
  /** How many of the newest completed and failed jobs a pass looks at. */
  window?: number;
}

export async function reconcileEnds(
  queue: RenderQueue,
  lifecycle: JobLifecycle,
  settleMs: number,
  window: number,
): Promise<number> {
  const now = Date.now();
  let replayed = 0;
  for (const state of ['completed', 'failed'] as const) {
    const jobs = (await queue.getJobs([state], 0, window - 1)) as RenderJob[];
    for (const job of jobs) {
      if (!job?.finishedOn || now - job.finishedOn < settleMs) continue;
      let snapshot;
      try {
        snapshot = jobSnapshot(job);
      } catch (err) {
        if (err instanceof MalformedJobError) continue; // failed as malformed: nobody to bill or notify
        throw err;
      }
      const status = state === 'completed' ? 'completed' : isCanceledReason(job.failedReason) ? 'canceled' : 'failed';
      await lifecycle.ended(snapshot, { status, ...(state === 'completed' && { result: job.returnvalue }) });
      replayed++;
    }
  }
  return replayed;
}

export function startEndReconciler(options: EndReconcilerOptions): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const pass = () => {
    running = reconcileEnds(options.queue, options.lifecycle, options.settleMs ?? 10_000, options.window ?? 200).catch(
      (err: Error) => options.logger.warn({ err: err.message }, 'job-end reconciliation failed'),
    );
  };
  const timer = setInterval(pass, options.everyMs ?? 30_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
