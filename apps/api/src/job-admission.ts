/**
 * Admission of new render jobs for an API key: its `max_queued_jobs` (jobs accepted and not yet
 * ended, queued or running) → 503 `queue_full` with `Retry-After` when over; then the job index
 * that `GET /v1/jobs` lists from. Every route that creates render jobs goes through here:
 *
 *   await admitJobs(deps, caller, [{ jobId, createdAt, batchId? }], async () => { store inputs; queue.add(…) });
 */
import { KilnError } from '@kiln/contracts';
import { indexJobs, releaseOpenJobs, reserveOpenJobs } from '@kiln/state';
import type { Caller } from './auth.js';
import type { ApiDeps } from './deps.js';

/** What a client is told to wait when its key's queue is full: a job or two will have ended by then. */
export const QUEUE_FULL_RETRY_AFTER_S = 10;

export interface NewJob {
  jobId: string;
  /** The job's creation time (ms), its place in listings. */
  createdAt: number;
  batchId?: string;
}

export async function admitJobs<T>(
  deps: Pick<ApiDeps, 'redis' | 'queue' | 'config'>,
  caller: Caller,
  jobs: readonly NewJob[],
  enqueue: () => Promise<T>,
): Promise<T> {
  const jobIds = jobs.map((j) => j.jobId);
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
  let result: T;
  try {
    result = await enqueue();
  } catch (err) {
    if (caller.maxQueuedJobs !== undefined)
      await releaseOpenJobs(deps.redis, deps.config.queuePrefix, caller.keyId, jobIds).catch(() => undefined);
    throw err;
  }
  await indexJobs(
    deps.redis,
    deps.config.queuePrefix,
    jobs.map((j) => ({ tenant: caller.tenant, jobId: j.jobId, createdAt: j.createdAt, batchId: j.batchId })),
    deps.config.resultTtlMs,
  );
  return result;
}
