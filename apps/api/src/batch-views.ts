/** How batches look to clients: the batch document and the lines of its results. */
import type { BatchItemEntry, BatchRecord, ItemOutcome } from '@kiln/state';
import { batchCounts } from '@kiln/webhooks';
import { storageUrlFields, type ImageUrlSigner } from './image-urls.js';

export function batchDocument(batch: BatchRecord, running: number, baseUrl: string) {
  const done = batch.ended;
  return {
    id: batch.id,
    object: 'batch' as const,
    status: batch.status,
    counts: batchCounts(batch, running),
    progress: {
      done,
      total: batch.valid,
      fraction: batch.valid > 0 ? Math.round((done / batch.valid) * 10_000) / 10_000 : 1,
    },
    created_at: batch.createdAt,
    finished_at: batch.finishedAt,
    canceled_at: batch.canceledAt,
    webhook_url: batch.webhookUrl ?? null,
    webhook_events: batch.webhookEvents,
    results_url: `${baseUrl}/v1/batches/${batch.id}/results`,
  };
}

/** One results line: an item, and its outcome once it has ended. */
export async function resultLine(
  entry: BatchItemEntry,
  outcome: ItemOutcome | undefined,
  running: boolean,
  baseUrl: string,
  urls?: ImageUrlSigner,
) {
  const jobId = entry.job_id ?? null;
  const status = entry.error ? 'invalid' : outcome ? outcome.status : running ? 'running' : 'queued';
  return {
    custom_id: entry.custom_id,
    index: entry.i,
    line: entry.line,
    job_id: jobId,
    status,
    seeds: outcome?.seeds ?? [],
    images: await Promise.all(
      (outcome?.images ?? []).map(async (img) => ({
        index: img.index,
        seed: img.seed,
        url: img.removed_for_safety ? null : `${baseUrl}/v1/jobs/${jobId}/images/${img.index}`,
        content_type: img.content_type,
        ...(urls && (await storageUrlFields(urls, { ...img, contentType: img.content_type }))),
      })),
    ),
    model: outcome?.model ?? null,
    reused: entry.reused === true,
    finished_at: outcome?.finished_at ?? null,
    error: entry.error ?? outcome?.error ?? null,
  };
}
