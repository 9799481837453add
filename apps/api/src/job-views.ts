/**
 * How BullMQ's job records look to clients: OctoAI's request status, Kiln's job document and
 * the OctoAI response body. One mapping from BullMQ states to Kiln statuses.
 */
import {
  KilnError,
  decodeFailure,
  isCanceledReason,
  recordableRequest,
  type RenderJobProgress,
  type RenderJobResult,
} from '@kiln/contracts';
import { isCancelRequested, queuePosition, type RenderJob, type RenderQueue } from '@kiln/queue';
import type { BlobStore } from '@kiln/storage';
import { storageUrlFields, type ImageUrlSigner } from './image-urls.js';
import type { RedisClient } from '@kiln/queue';

export type KilnStatus = 'queued' | 'running' | 'completed' | 'failed' | 'canceled';
export type { RenderJob };

/** Kiln's status for a BullMQ state; undefined for `unknown`, a job removed since its record was read. */
function statusFor(state: string, job: RenderJob): KilnStatus | undefined {
  switch (state) {
    case 'unknown':
      return undefined;
    case 'active':
      return 'running';
    case 'completed':
      return 'completed';
    case 'failed':
      return isCanceledReason(job.failedReason) ? 'canceled' : 'failed';
    default:
      // waiting, prioritized, delayed (a retry's backoff), waiting-children
      return 'queued';
  }
}

/** A job record and its status, read so that they agree. */
export interface JobView {
  job: RenderJob;
  status: KilnStatus;
}

/**
 * The job with its status; undefined when it has been removed (result retention). The status is
 * read live, after the record: a job that started or ended in between has a record that lags its
 * status (no `processedOn`; no `finishedOn`, `failedReason` or `returnvalue`, one attempt fewer),
 * so it is read again. BullMQ writes those fields in the script that moves the job, so the second
 * record has them. Everything shown or counted about one job comes from one view; reading the
 * status a second time could pair an ended job's status with its running record.
 */
export async function viewOf(queue: RenderQueue, job: RenderJob): Promise<JobView | undefined> {
  const view = await readView(job);
  if (!view || recordHolds(view)) return view;
  const again = (await queue.getJob(job.id as string)) as RenderJob | undefined;
  return again && readView(again);
}

/** Whether the record has what its status implies. */
function recordHolds({ job, status }: JobView): boolean {
  if (status === 'queued') return true;
  if (status === 'running') return job.processedOn !== undefined;
  return job.finishedOn !== undefined;
}

/** The view of the job `id`; undefined when there is no such job. */
export async function loadView(queue: RenderQueue, id: string): Promise<JobView | undefined> {
  const job = (await queue.getJob(id)) as RenderJob | undefined;
  return job && viewOf(queue, job);
}

/** The view of `tenant`'s job `id`; another tenant's job answers 404 exactly like a missing one. */
export async function ownView(queue: RenderQueue, id: string, tenant: string): Promise<JobView> {
  const view = await loadView(queue, id);
  if (!view || view.job.data.tenant !== tenant) throw new KilnError('not_found', `no job ${id}`);
  return view;
}

async function readView(job: RenderJob): Promise<JobView | undefined> {
  const status = statusFor(await job.getState(), job);
  return status && { job, status };
}

/** OctoAI's `GET /v1/requests/{id}` statuses. */
export const OCTOAI_STATUS: Record<KilnStatus, 'pending' | 'running' | 'completed' | 'failed' | 'canceled'> = {
  queued: 'pending',
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  canceled: 'canceled',
};

const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

export function progressOf(job: RenderJob): RenderJobProgress {
  const p = job.progress as Partial<RenderJobProgress> | number;
  const total = job.data.request.steps;
  if (typeof p === 'object' && p) {
    return {
      step: p.step ?? 0,
      totalSteps: p.totalSteps ?? total,
      imagesDone: p.imagesDone ?? 0,
      numImages: p.numImages ?? job.data.seeds.length,
      stage: p.stage ?? 'denoising',
    };
  }
  return { step: 0, totalSteps: total, imagesDone: 0, numImages: job.data.seeds.length };
}

/** With `urls`, each image also gets its checksum and a presigned storage URL (`?image_urls=1`). */
export async function jobDocument(
  { job, status }: JobView,
  redis: RedisClient,
  queue: RenderQueue,
  baseUrl: string,
  urls?: ImageUrlSigner,
) {
  const progress = progressOf(job);
  const result = status === 'completed' ? job.returnvalue : undefined;
  const failure = status === 'failed' || status === 'canceled' ? decodeFailure(job.failedReason) : null;
  return {
    id: job.id as string,
    status,
    family: job.data.family,
    custom_id: job.data.customId ?? null,
    batch_id: job.data.batchId ?? null,
    progress: {
      step: status === 'completed' ? progress.totalSteps : progress.step,
      total_steps: progress.totalSteps,
      images_done: status === 'completed' ? job.data.seeds.length : progress.imagesDone,
      num_images: job.data.seeds.length,
      stage: status === 'running' ? (progress.stage ?? 'denoising') : null,
    },
    queue_position: status === 'queued' ? await queuePosition(redis, queue, job.id as string) : null,
    attempts_made: job.attemptsMade,
    cancel_requested:
      status === 'running' ? await isCancelRequested(redis, queue.opts.prefix ?? 'bull', job.id as string) : false,
    created_at: iso(job.timestamp),
    started_at: iso(job.processedOn),
    finished_at: iso(job.finishedOn),
    error: failure
      ? { code: failure.code, message: failure.message, ...(failure.field && { field: failure.field }) }
      : null,
    seeds: job.data.seeds,
    prediction_time_ms: result?.predictionTimeMs ?? null,
    parameters: recordableRequest(job.data.request),
    assets: result?.assets ?? null,
    images: await Promise.all(
      (result?.images ?? []).map(async (img) => ({
        index: img.index,
        seed: img.seed,
        url: img.key ? `${baseUrl}/v1/jobs/${job.id}/images/${img.index}` : null,
        content_type: img.contentType,
        removed_for_safety: img.removedForSafety,
        safety_score: img.safetyScore,
        ...(urls && (await storageUrlFields(urls, img))),
      })),
    ),
  };
}

/**
 * OctoAI's ImageGenerationResponse, with the image bytes read back from storage. A finished job's
 * record can outlive its files: retention sweeps files by their age, while BullMQ drops an expired
 * record only when a later job finishes. Such a job's images are gone (404), not an error of Kiln.
 */
export async function generationResponse(jobId: string, result: RenderJobResult, store: BlobStore) {
  const images = await Promise.all(
    result.images.map(async (img) => {
      const bytes = img.key ? await store.get(img.key) : undefined;
      if (img.key && !bytes) {
        throw new KilnError('not_found', `the images of job ${jobId} are no longer stored (result retention)`, {
          jobId,
        });
      }
      return {
        image_b64: bytes ? bytes.toString('base64') : null,
        removed_for_safety: img.removedForSafety,
        seed: img.seed,
        safety_score: img.safetyScore,
      };
    }),
  );
  return { images, prediction_time_ms: Math.round(result.predictionTimeMs * 10) / 10, id: jobId };
}
