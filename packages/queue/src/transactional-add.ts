/**
 * Render jobs added in one MULTI together with whatever bookkeeping the caller queues on the same
 * transaction (the tenant's job index, …): one round trip, and all or nothing, so a job never
 * becomes visible to a worker without its bookkeeping, nor the bookkeeping without its job.
 *
 * BullMQ's `queue.add` runs its add script on its own; `addBulk` pipelines several without a
 * transaction. BullMQ's Redis backend exposes `addJobToTransaction` (public, outside its backend
 * interface, "so that flow producers can batch inserts across queues onto a shared transaction"),
 * which queues the very same add script on a MULTI; the job is built exactly as `queue.add` builds
 * it (the queue's default job options under the caller's). On a Redis Cluster every key involved
 * must hash to one slot: the queue prefix is a hash tag there (state-keys.ts).
 */
import { Job, type JobsOptions } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import type { RenderJobData } from '@kiln/contracts';
import type { RenderQueue } from './render-queue.js';

export interface QueuedJobEntry {
  name: string;
  data: RenderJobData;
  /** `jobId` is required: the caller's bookkeeping refers to it. */
  opts: JobsOptions & { jobId: string };
}

/** `validateOptions` is protected on Job: a subclass may call it, as `Job.create` does. */
class CheckedJob extends Job<RenderJobData> {
  check(): void {
    this.validateOptions(this.asJSON());
  }
}

/**
 * Adds `entries` to `queue` and runs the commands `bookkeeping` queues on the same MULTI, in one
 * EXEC. Throws the first command error (BullMQ's negative codes included); a connection error
 * leaves it unknown whether the EXEC ran, which is the caller's to handle.
 */
export async function addJobsWithBookkeeping(
  queue: RenderQueue,
  entries: readonly QueuedJobEntry[],
  bookkeeping: (multi: ChainableCommander) => void,
): Promise<void> {
  const client = await queue.backend.client;
  const multi = client.multi();
  const queued: Promise<string>[] = [];
  for (const entry of entries) {
    const opts = { ...queue.jobsOpts, ...entry.opts };
    const job = new CheckedJob(queue as never, entry.name, entry.data, opts, entry.opts.jobId);
    job.check();
    // Queues the add script on `multi` synchronously; the returned promise settles at once.
    queued.push(queue.backend.addJobToTransaction(multi, job.asJSON(), entry.opts.jobId));
  }
  await Promise.all(queued);
  bookkeeping(multi as unknown as ChainableCommander);
  const results = await multi.exec();
  if (!results) throw new Error('Redis discarded the submission transaction');
  for (const [err, value] of results) {
    if (err) throw err;
    if (typeof value === 'number' && value < 0) throw new Error(`BullMQ refused the job (code ${value})`);
  }
}
