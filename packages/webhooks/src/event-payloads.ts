/**
 * The JSON bodies Kiln sends, in the shape Standard Webhooks recommends: `type`, `timestamp`
 * (when the event happened), `data`. The body is built once when the event happens and sent
 * unchanged on every retry, so its signature input differs between attempts only by timestamp.
 */
import {
  decodeFailure,
  type RenderJobData,
  type RenderJobProgress,
  type RenderJobResult,
  type WebhookEvent,
} from '@kiln/contracts';
import { readJobData } from '@kiln/queue';
import type { BatchRecord } from '@kiln/state';

export type JobEventType = `job.${WebhookEvent}`;
export type BatchEventType = `batch.${WebhookEvent}`;

/** What the payload builders read from a BullMQ job. */
export interface JobSnapshot {
  id: string;
  data: RenderJobData;
  returnvalue?: RenderJobResult | null;
  failedReason?: string;
  progress?: unknown;
}

/**
 * The fields of a queue job that events are made of (a BullMQ `Job` fits), its payload parsed
 * with the job schema (throws MalformedJobError when it does not fit).
 */
export function jobSnapshot(job: {
  id?: string;
  data: unknown;
  returnvalue?: RenderJobResult | null;
  failedReason?: string;
  progress?: unknown;
}): JobSnapshot {
  const data = readJobData(job);
  return {
    id: job.id as string,
    data,
    returnvalue: job.returnvalue,
    failedReason: job.failedReason,
    progress: job.progress,
  };
}

const linkBase = (data: RenderJobData) => (data.baseUrl ?? '').replace(/\/$/, '');

function progressView(job: JobSnapshot, status: string) {
  const p = (typeof job.progress === 'object' && job.progress ? job.progress : {}) as Partial<RenderJobProgress>;
  const total = p.totalSteps ?? job.data.request.steps;
  const done = status === 'completed';
  return {
    step: done ? total : (p.step ?? 0),
    total_steps: total,
    images_done: done ? job.data.seeds.length : (p.imagesDone ?? 0),
    num_images: job.data.seeds.length,
  };
}

/** The `data` of a `job.*` event: the job as `GET /v1/jobs/{id}` shows it, trimmed to what changed. */
export function jobEventData(job: JobSnapshot, event: WebhookEvent) {
  const base = linkBase(job.data);
  const status = event === 'started' || event === 'progress' ? 'running' : event;
  const failure = event === 'failed' || event === 'canceled' ? decodeFailure(job.failedReason) : null;
  const result = event === 'completed' ? job.returnvalue : undefined;
  return {
    id: job.id,
    status,
    custom_id: job.data.customId ?? null,
    batch_id: job.data.batchId ?? null,
    progress: progressView(job, status),
    seeds: job.data.seeds,
    ...(result && {
      prediction_time_ms: Math.round(result.predictionTimeMs * 10) / 10,
      model: result.model,
      images: result.images.map((img) => ({
        index: img.index,
        seed: img.seed,
        url: img.key ? `${base}/v1/jobs/${job.id}/images/${img.index}` : null,
        content_type: img.contentType,
        removed_for_safety: img.removedForSafety,
      })),
    }),
    error: failure ? { code: failure.code, message: failure.message } : null,
    job_url: `${base}/v1/jobs/${job.id}`,
  };
}

export function jobEventBody(job: JobSnapshot, event: WebhookEvent, at: Date = new Date()): string {
  return JSON.stringify({
    type: `job.${event}` satisfies JobEventType,
    timestamp: at.toISOString(),
    data: jobEventData(job, event),
  });
}

/** Counts of a batch by state, as `GET /v1/batches/{id}` shows them. */
export function batchCounts(batch: BatchRecord, running: number) {
  const queued = Math.max(0, batch.valid - batch.ended - running);
  return {
    total: batch.total,
    invalid: batch.invalid,
    queued,
    running,
    completed: batch.completed,
    failed: batch.failed,
    canceled: batch.canceled,
    reused: batch.reused,
  };
}

export function batchEventBody(
  batch: BatchRecord,
  event: WebhookEvent,
  running: number,
  at: Date = new Date(),
): string {
  const base = (batch.baseUrl ?? '').replace(/\/$/, '');
  return JSON.stringify({
    type: `batch.${event}` satisfies BatchEventType,
    timestamp: at.toISOString(),
    data: {
      id: batch.id,
      status: batch.status,
      counts: batchCounts(batch, running),
      created_at: batch.createdAt,
      finished_at: batch.finishedAt,
      batch_url: `${base}/v1/batches/${batch.id}`,
      results_url: `${base}/v1/batches/${batch.id}/results`,
    },
  });
}
