/**
 * Job-end bookkeeping (batch counters, `completed`/`failed` webhooks) hangs off BullMQ's worker
 * events, which run just after BullMQ has stored a job's end. A worker killed in between would
 * leave that job uncounted and its batch `in_progress` forever. This pass replays the end of every
 * recently finished job; replays are harmless because the batch script counts a job once and a
 * webhook message's BullMQ id is its `webhook-id`, so it is enqueued once.
 */
import type { Logger } from '@kiln/config';
import { RENDER_QUEUE, decodeFailure, type RenderJobData, type RenderJobResult } from '@kiln/queue';
import { jobSnapshot, type JobNotifier } from '@kiln/webhooks';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

export interface EndReconcilerOptions {
  connection: Redis;
  prefix: string;
  notifier: JobNotifier;
  logger: Logger;
  /** How often a pass runs. */
  everyMs?: number;
  /** Jobs younger than this are left to the live event handler. */
  settleMs?: number;
  /** How many of the newest completed and failed jobs a pass looks at. */
  window?: number;
}

type RenderJob = Job<RenderJobData, RenderJobResult>;

const needsBookkeeping = (job: RenderJob) => Boolean(job.data?.batch_id || job.data?.request?.webhook_url);

export async function reconcileEnds(queue: Queue<RenderJobData, RenderJobResult>, notifier: JobNotifier, settleMs: number, window: number): Promise<number> {
  const now = Date.now();
  let replayed = 0;
  for (const state of ['completed', 'failed'] as const) {
    const jobs = (await queue.getJobs([state], 0, window - 1)) as RenderJob[];
    for (const job of jobs) {
      if (!job?.finishedOn || now - job.finishedOn < settleMs || !needsBookkeeping(job)) continue;
      const status = state === 'completed' ? 'completed' : decodeFailure(job.failedReason).code === 'canceled' ? 'canceled' : 'failed';
      await notifier.ended(jobSnapshot(job), { status, ...(state === 'completed' && { result: job.returnvalue }) });
      replayed++;
    }
  }
  return replayed;
}

export function startEndReconciler(options: EndReconcilerOptions): () => Promise<void> {
  const queue = new Queue<RenderJobData, RenderJobResult>(RENDER_QUEUE, { connection: options.connection, prefix: options.prefix });
  let running: Promise<unknown> = Promise.resolve();
  const pass = () => {
    running = reconcileEnds(queue, options.notifier, options.settleMs ?? 10_000, options.window ?? 200).catch((err: Error) =>
      options.logger.warn({ err: err.message }, 'job-end reconciliation failed'),
    );
  };
  const timer = setInterval(pass, options.everyMs ?? 30_000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
    await queue.close();
  };
}
