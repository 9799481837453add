import type { ItemEndStatus, JobUsage } from '@kiln/state';
import type { RenderJobProgress } from '@kiln/contracts';
import type { JobSnapshot } from '@kiln/webhooks';

/**
 * The usage record of a job that ended. Steps per image are what the pipeline reported (an
 * image-to-image job takes fewer than `steps`), else the request's.
 */
export function usageOf(job: JobSnapshot, status: ItemEndStatus): JobUsage {
  const progress = (typeof job.progress === 'object' && job.progress ? job.progress : {}) as Partial<RenderJobProgress>;
  const { request } = job.data;
  return {
    tenant: job.data.tenant,
    keyId: job.data.keyId,
    jobId: job.id,
    outcome: status,
    images: status === 'completed' ? (job.returnvalue?.images.length ?? 0) : 0,
    stepsPerImage: progress.totalSteps && progress.totalSteps > 0 ? progress.totalSteps : request.steps,
    width: request.width,
    height: request.height,
  };
}
