/**
 * Admission of new render jobs for an API key: its `max_queued_jobs` (jobs accepted and not yet
 * ended, queued or running) → 503 `queue_full` with `Retry-After` when over; then the jobs and the
 * job index that `GET /v1/jobs` lists from, in one transaction. Every route that creates render
 * jobs goes through here:
 *
 *   await admitJobs(deps, caller, [{ jobId, createdAt, batchId? }], async () => { store inputs; return [{ name, data, opts }] });
 *
 * The submit path is one Redis round trip (docs/benchmarks.md, item 4): BullMQ's add script and the
 * index commands go in one MULTI (@kiln/queue transactional-add.ts), so a job becomes visible to
 * workers and listings together, or not at all. Keys with `max_queued_jobs` take their slot in one
 * script before. When the transaction fails on a Redis error the API cannot know whether Redis ran
 * it; the jobs are then withdrawn once Redis is back (refused-jobs.ts), so a 503 never leaves a job.
 */
import { KilnError } from '@kiln/contracts';
import { addJobsWithBookkeeping, type QueuedJobEntry } from '@kiln/queue';
import { queueBacklog, queueIndexJobs, releaseOpenJobs, reserveOpenJobs } from '@kiln/state';
import type { Caller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { refusedJobsOf } from './refused-jobs.js';

/** What a client is told to wait when its key's queue is full: a job or two will have ended by then. */
export const QUEUE_FULL_RETRY_AFTER_S = 10;

export interface NewJob {
  jobId: string;
  /** The job's creation time (ms), its place in listings. */
  createdAt: number;
  batchId?: string;
}

/**
 * Admits `jobs`: takes their `max_queued_jobs` slots, runs `prepare` (which stores their inputs and
 * returns the BullMQ entries, one per job, with the same job ids) and adds them with their index
 * entries in one transaction.
 */
export async function admitJobs(
  deps: Pick<ApiDeps, 'redis' | 'queue' | 'config' | 'logger'>,
  caller: Caller,
  jobs: readonly NewJob[],
  prepare: () => Promise<readonly QueuedJobEntry[]>,
): Promise<void> {
  const jobIds = jobs.map((j) => j.jobId);
  const prefix = deps.config.queuePrefix;
  if (caller.maxQueuedJobs !== undefined) {
    const reserved = await reserveOpenJobs(deps.redis, deps.queue, caller.keyId, caller.maxQueuedJobs, jobIds);
    if (!reserved.ok) {
      throw new KilnError(
        'queue_full',
        `key ${caller.keyId} has ${reserved.open} jobs queued or running, its limit is ${caller.maxQueuedJobs}; retry when some have finished`,
        { retryAfterSeconds: QUEUE_FULL_RETRY_AFTER_S },
      );
    }
  }
  const release = () =>
    caller.maxQueuedJobs === undefined
      ? Promise.resolve()
      : releaseOpenJobs(deps.redis, prefix, caller.keyId, jobIds).catch(() => undefined);
  let entries: readonly QueuedJobEntry[];
  try {
    entries = await prepare();
  } catch (err) {
    await release();
    throw err;
  }
  const indexed = jobs.map((j) => ({
    tenant: caller.tenant,
    jobId: j.jobId,
    createdAt: j.createdAt,
    batchId: j.batchId,
  }));
  try {
    await addJobsWithBookkeeping(deps.queue, entries, (multi) => {
      queueIndexJobs(multi, prefix, indexed, deps.config.resultTtlMs);
      queueBacklog(multi, prefix, entries); // the autoscaling signal (@kiln/state backlog.ts)
    });
  } catch (err) {
    // Redis may have run the transaction without the reply reaching us: the client hears 503,
    // so whatever it wrote is withdrawn as soon as Redis answers again.
    if (!(err instanceof KilnError)) {
      refusedJobsOf(deps.redis, deps.queue, deps.logger).remember(
        jobs.map((j) => ({ jobId: j.jobId, tenant: caller.tenant, keyId: caller.keyId, batchId: j.batchId })),
      );
    }
    await release();
    throw err;
  }
}
