/**
 * The one owner of what a job's transitions set off, besides the queue's own bookkeeping:
 *
 * - `started`:  the fair-share clock (batch items), the `started` webhook, the batch's running set
 * - `progress`: `progress` webhooks (at most 2 per second per job)
 * - `retrying`: an attempt failed and will be retried: the item is not running meanwhile
 * - `ended`:    the job's usage (counted exactly once), its final webhook, its batches' counters
 *               and their final webhooks
 *
 * Called by the render worker at each transition (apps/worker/src/job-events.ts), by its end
 * reconciler (which replays recent ends a dead worker may have missed: every step of `ended` is
 * idempotent) and by the API for jobs that end without a worker (canceled while waiting).
 */
import type { Logger } from '@kiln/config';
import { decodeFailure, type RenderJobResult, type WebhookEvent } from '@kiln/contracts';
import {
  moveBacklog,
  recordJobUsage,
  type BatchRecord,
  type BatchStore,
  type FairShare,
  type ItemEndStatus,
  type ItemOutcome,
} from '@kiln/state';
import {
  appendAttempt,
  batchEventBody,
  jobEventBody,
  type JobSnapshot,
  type Subject,
  type WebhookDelivery,
  type WebhookQueue,
} from '@kiln/webhooks';
import type { RedisClient } from '@kiln/queue';
import { usageOf } from './job-usage.js';

/** `progress` events are sent at most this often per job (2 per second). */
export const PROGRESS_INTERVAL_MS = 500;

export interface JobLifecycleDeps {
  redis: RedisClient;
  prefix: string;
  webhooks: WebhookQueue;
  batches: BatchStore;
  fair: FairShare;
  logger: Logger;
  /** How long attempt logs are kept (the results' retention). */
  logTtlMs: number;
}

export interface JobEnd {
  status: ItemEndStatus;
  result?: RenderJobResult | null;
}

/** The webhook URL a job sends `event` to, if it subscribed to it. */
function subscribed(job: JobSnapshot, event: WebhookEvent): string | undefined {
  const webhook = job.data.webhook;
  return webhook?.events.includes(event) ? webhook.url : undefined;
}

export class JobLifecycle {
  private readonly lastProgress = new Map<string, number>();

  constructor(private readonly deps: JobLifecycleDeps) {}

  /** Queues one message (its id dedupes it) and notes it in the subject's attempt log. */
  async send(delivery: WebhookDelivery): Promise<void> {
    await this.deps.webhooks.add(delivery.type, delivery, { jobId: delivery.id });
    await appendAttempt(
      this.deps.redis,
      this.deps.prefix,
      delivery.subject,
      {
        webhook_id: delivery.id,
        type: delivery.type,
        url: delivery.url,
        attempt: 0,
        at: new Date().toISOString(),
        status_code: null,
        error: null,
        duration_ms: null,
        outcome: 'queued',
        next_attempt_at: null,
      },
      this.deps.logTtlMs,
    );
  }

  private async jobEvent(
    job: JobSnapshot,
    event: WebhookEvent,
    idSuffix: string = event,
    at: Date = new Date(),
  ): Promise<void> {
    const url = subscribed(job, event);
    if (!url) return;
    const subject: Subject = { kind: 'job', id: job.id };
    await this.send({
      id: `msg_${job.id}_${idSuffix}`,
      url,
      keyId: job.data.keyId,
      type: `job.${event}`,
      subject,
      body: jobEventBody(job, event, at),
    });
  }

  private async batchEvent(batch: BatchRecord, event: WebhookEvent, idSuffix: string = event): Promise<void> {
    if (!batch.webhookUrl || !batch.webhookEvents.includes(event)) return;
    const running = (await this.deps.batches.activeJobs(batch.id)).size;
    await this.send({
      id: `msg_batch_${batch.id}_${idSuffix}`,
      url: batch.webhookUrl,
      keyId: batch.keyId,
      type: `batch.${event}`,
      subject: { kind: 'batch', id: batch.id },
      body: batchEventBody(batch, event, running),
    });
  }

  /** The batches an item counts in: its own, and later submissions waiting on it. */
  private async batchesOf(job: JobSnapshot): Promise<string[]> {
    const ids = job.data.batchId ? [job.data.batchId] : [];
    return [...new Set([...ids, ...(await this.deps.batches.watchers(job.id))])];
  }

  /** A worker started the job (each attempt). */
  async started(job: JobSnapshot): Promise<void> {
    await this.moveBacklog(job.id, 'active');
    if (job.data.fairTag !== undefined) await this.deps.fair.started(job.data.fairTag);
    await this.jobEvent(job, 'started');
    for (const batchId of await this.batchesOf(job)) {
      await this.deps.batches.markActive(batchId, job.id);
      const batch = await this.deps.batches.get(batchId);
      if (batch) await this.batchEvent(batch, 'started');
    }
  }

  /**
   * Denoising advanced. Sends a `progress` event when the last one is at least
   * {@link PROGRESS_INTERVAL_MS} old. Returns true when the job's batch is being canceled (the
   * worker then stops the job).
   */
  async progress(job: JobSnapshot): Promise<{ batchCanceled: boolean }> {
    const now = Date.now();
    const last = this.lastProgress.get(job.id) ?? 0;
    if (now - last < PROGRESS_INTERVAL_MS) return { batchCanceled: false };
    this.lastProgress.set(job.id, now);
    const p = (job.progress ?? {}) as { step?: number; imagesDone?: number };
    // stamped with the reading the throttle used, so the events' own timestamps keep the interval
    await this.jobEvent(job, 'progress', `progress_${p.imagesDone ?? 0}_${p.step ?? 0}`, new Date(now));
    if (!job.data.batchId) return { batchCanceled: false };
    const status = await this.deps.batches.status(job.data.batchId);
    return { batchCanceled: status === 'canceling' || status === 'canceled' };
  }

  /** An attempt failed and BullMQ will try again later: the item is not running meanwhile. */
  async retrying(job: JobSnapshot): Promise<void> {
    this.lastProgress.delete(job.id);
    await this.moveBacklog(job.id, 'delayed'); // BullMQ holds it for its backoff
    for (const batchId of await this.batchesOf(job)) await this.deps.batches.markInactive(batchId, job.id);
  }

  /**
   * The job ended for good (a failure that will be retried is not an end). Safe to call again for
   * the same job: usage is counted once (a per-job marker), a batch counts an item once, and a
   * webhook message's id is its queue id, so it is queued once.
   */
  async ended(job: JobSnapshot, end: JobEnd): Promise<void> {
    this.lastProgress.delete(job.id);
    await this.moveBacklog(job.id, 'gone');
    const snapshot: JobSnapshot = { ...job, returnvalue: end.result ?? job.returnvalue };
    await this.recordUsage(snapshot, end.status);
    await this.jobEvent(snapshot, end.status);
    const batchIds = await this.batchesOf(job);
    if (batchIds.length === 0) return;
    const outcome = itemOutcome(snapshot, end.status);
    for (const batchId of batchIds) {
      const counted = await this.deps.batches.recordEnd(batchId, job.id, end.status, outcome);
      await this.afterItemEnd(batchId, counted);
    }
  }

  /** The backlog is a signal (backlog-tracking.ts): a failed write is logged, the transition goes on. */
  private async moveBacklog(jobId: string, state: 'active' | 'delayed' | 'gone'): Promise<void> {
    await moveBacklog(this.deps.redis, this.deps.prefix, state, [{ jobId }]).catch((err: Error) =>
      this.deps.logger.warn({ jobId, err: err.message }, 'backlog not updated'),
    );
  }

  /** Counts the job's usage (retried a few times: a lost record is lost usage). */
  private async recordUsage(job: JobSnapshot, status: ItemEndStatus): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await recordJobUsage(this.deps.redis, this.deps.prefix, usageOf(job, status));
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /** Sends the batch's progress (throttled across processes) and final events after an item was counted. */
  async afterItemEnd(batchId: string, counted: string): Promise<void> {
    if (counted === 'missing' || counted === 'duplicate') return;
    const batch = await this.deps.batches.get(batchId);
    if (!batch) return;
    if (counted.startsWith('finished:')) {
      const final = counted.slice('finished:'.length) as 'completed' | 'canceled';
      this.deps.logger.info(
        { batchId, completed: batch.completed, failed: batch.failed, canceled: batch.canceled },
        `batch ${final}`,
      );
      await this.batchEvent(batch, final);
      return;
    }
    if (batch.webhookEvents.includes('progress')) {
      const throttle = `${this.deps.batches.key(batchId, 'progress-sent')}`;
      if ((await this.deps.redis.set(throttle, '1', 'PX', PROGRESS_INTERVAL_MS, 'NX')) === 'OK') {
        await this.batchEvent(batch, 'progress', `progress_${batch.ended}`);
      }
    }
  }
}

/** What a batch keeps of an item that ended, for its results. */
export function itemOutcome(job: JobSnapshot, status: ItemEndStatus): ItemOutcome {
  const result = status === 'completed' ? job.returnvalue : undefined;
  const failure = status === 'completed' ? null : decodeFailure(job.failedReason);
  return {
    status,
    seeds: job.data.seeds,
    images: (result?.images ?? []).map((img) => ({
      index: img.index,
      seed: img.seed,
      removed_for_safety: img.removedForSafety,
      content_type: img.contentType,
      key: img.key,
      sha256: img.sha256 ?? null,
    })),
    model: result?.model ?? null,
    error: failure ? { code: failure.code, message: failure.message } : null,
    finished_at: new Date().toISOString(),
  };
}
