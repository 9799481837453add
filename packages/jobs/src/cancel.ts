import { cancelRenderJob, type CancelOutcome } from '@kiln/queue';
import { jobSnapshot } from '@kiln/webhooks';
import type { RedisClient } from '@kiln/queue';
import type { JobServices } from './job-services.js';

/**
 * Cancels a job (see @kiln/queue cancel-job.ts). A job canceled while it waited never reaches a
 * worker, so its end (usage, `canceled` webhook, batch counts) is recorded here; a running job's
 * worker records its own.
 */
export async function cancelJob(
  redis: RedisClient,
  jobs: Pick<JobServices, 'queue' | 'lifecycle'>,
  jobId: string,
): Promise<CancelOutcome> {
  const outcome = await cancelRenderJob(redis, jobs.queue, jobId);
  if (outcome === 'canceled') {
    const job = await jobs.queue.getJob(jobId);
    if (job) await jobs.lifecycle.ended(jobSnapshot(job), { status: 'canceled' });
  }
  return outcome;
}
