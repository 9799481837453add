/**
 * `POST /v1/batches`, in two phases so that an upload is refused whole or accepted whole:
 *
 * 1. Read: items stream in (batch-body-reader.ts), each is validated (batch-item.ts) and staged
 *    in Redis in input order; nothing is queued yet. Too many items or bytes → 413, a body that
 *    is not a batch → 422, and the staging is dropped.
 * 2. Enqueue: staged items are taken in chunks. An item whose custom_id and body match a job of
 *    an earlier submission reuses that job (done: counted at once; still running: this batch
 *    waits on it); the others become render jobs with `batch_id`, fair-share priorities
 *    (fairness: packages/state/src/fair-share.ts) and go through the key's admission
 *    (max_queued_jobs, job index). Memory stays at one chunk whatever the batch size.
 */
import { randomUUID } from 'node:crypto';
import {
  CANCELED,
  KilnError,
  batchWebhookOptionsSchema,
  encodeFailure,
  toValidationErrorBody,
  type ErrorCode,
} from '@kiln/contracts';
import { cancelJob, itemOutcome } from '@kiln/jobs';
import type { RenderJob } from '@kiln/queue';
import type { BatchItemEntry } from '@kiln/state';
import { jobSnapshot, type JobSnapshot } from '@kiln/webhooks';
import type { Caller } from './auth.js';
import {
  BatchBodyError,
  BatchItemTooLargeError,
  readJsonEnvelope,
  readJsonLines,
  type RawBatchItem,
} from './batch-body-reader.js';
import { BatchItemValidator, type Staged, type StagedError, type StagedItem } from './batch-item.js';
import type { ApiDeps } from './deps.js';
import { admitJobs } from './job-admission.js';
import { loadView, type JobView } from './job-views.js';
import { assertWebhookTarget } from './webhook-target.js';

/** Items per Redis round trip in both phases. */
const CHUNK = 500;
/** Items canceled at once by `POST /v1/batches/{id}/cancel`. */
const CANCEL_CONCURRENCY = 64;
/** Refused items listed in the submission's answer (all of them are in the results). */
export const MAX_ERRORS_IN_ANSWER = 1000;

export interface BatchUpload {
  /** The body, already decompressed, as it streams. */
  source: AsyncIterable<Buffer | string>;
  format: 'jsonl' | 'json';
  /** Batch webhook options from the query string (JSONL), merged with the JSON envelope's. */
  query: { webhook_url?: string; webhook_events?: string[] };
  baseUrl: string;
}

export interface SubmittedBatch {
  batchId: string;
  errors: Array<{ index: number; line: number; custom_id: string | null; error: StagedError['error'] }>;
}

/** Batch webhook options: query (JSONL) or envelope members (JSON), validated like a request's. */
async function batchWebhook(deps: ApiDeps, caller: Caller, raw: Record<string, unknown>) {
  const parsed = batchWebhookOptionsSchema.safeParse(raw);
  if (!parsed.success) {
    const body = toValidationErrorBody(parsed.error, raw);
    throw new KilnError('invalid_request', body.error.message, {
      field: String(body.detail[0]?.loc[1] ?? 'webhook_url'),
    });
  }
  const { webhook_url: url, webhook_events: events } = parsed.data;
  if (events !== undefined && url === undefined)
    throw new KilnError('invalid_request', 'webhook_events needs webhook_url', { field: 'webhook_events' });
  await assertWebhookTarget(deps, caller, url);
  return { webhookUrl: url, webhookEvents: url === undefined ? [] : [...new Set(events ?? ['completed'])] };
}

export async function submitBatch(deps: ApiDeps, caller: Caller, upload: BatchUpload): Promise<SubmittedBatch> {
  const { batches } = deps.jobs;
  const batchId = randomUUID();
  const webhook = await batchWebhook(deps, caller, upload.query);
  await batches.create({
    id: batchId,
    tenant: caller.tenant,
    keyId: caller.keyId,
    ...webhook,
    baseUrl: upload.baseUrl,
  });

  // ── phase 1: read, validate, stage ───────────────────────────────────────────────────────
  const validator = new BatchItemValidator(deps, batchId, upload.baseUrl, caller);
  const errors: SubmittedBatch['errors'] = [];
  const envelope: Record<string, unknown> = {};
  let staged: Staged[] = [];
  let total = 0;
  let valid = 0;
  try {
    const items: AsyncGenerator<RawBatchItem> =
      upload.format === 'jsonl'
        ? readJsonLines(upload.source, deps.config.maxBodyBytes)
        : readJsonEnvelope(upload.source, envelope, deps.config.maxBodyBytes);
    for await (const raw of items) {
      total++;
      if (total > deps.config.batchMaxItems) {
        throw new KilnError(
          'payload_too_large',
          `a batch holds at most ${deps.config.batchMaxItems} items (KILN_BATCH_MAX_ITEMS)`,
        );
      }
      const entry = await validator.validate(raw);
      if (entry.kind === 'item') valid++;
      else if (errors.length < MAX_ERRORS_IN_ANSWER)
        errors.push({ index: entry.i, line: entry.line, custom_id: entry.custom_id, error: entry.error });
      staged.push(entry);
      if (staged.length >= CHUNK) {
        await batches.stage(batchId, staged);
        staged = [];
      }
    }
    await batches.stage(batchId, staged);
    staged = [];
    if (upload.format === 'json') {
      const { requests: _requests, ...members } = envelope;
      const unknown = Object.keys(members).filter((k) => k !== 'webhook_url' && k !== 'webhook_events');
      if (unknown.length > 0)
        throw new KilnError('invalid_request', `unknown member ${JSON.stringify(unknown[0])} in the batch`, {
          field: unknown[0],
        });
      if (members.webhook_url !== undefined || members.webhook_events !== undefined) {
        if (webhook.webhookUrl !== undefined)
          throw new KilnError('invalid_request', 'give webhook_url in the body or in the query, not both', {
            field: 'webhook_url',
          });
        const fromBody = await batchWebhook(deps, caller, members);
        await deps.redis.hset(batches.key(batchId), {
          webhook_url: fromBody.webhookUrl ?? '',
          webhook_events: JSON.stringify(fromBody.webhookEvents),
        });
      }
    }
    if (total === 0) throw new KilnError('invalid_request', 'the batch has no items');
    if (valid === 0) {
      throw new KilnError(
        'invalid_request',
        `none of the ${total} items is valid; the first: ${errors[0]?.error.message}`,
        { details: { errors } },
      );
    }
  } catch (err) {
    await batches.discard(batchId, caller.tenant);
    if (err instanceof BatchBodyError)
      throw new KilnError('invalid_request', `${err.message} (for JSONL, send Content-Type: application/x-ndjson)`);
    if (err instanceof BatchItemTooLargeError)
      throw new KilnError('payload_too_large', `${err.message} (KILN_MAX_BODY_BYTES per item)`);
    throw err;
  }
  await batches.setCounts(batchId, { total, valid, invalid: total - valid });

  // ── phase 2: enqueue ─────────────────────────────────────────────────────────────────────
  let refusedLate = 0;
  let queueFull: KilnError | undefined;
  for (let offset = 0; offset < total; offset += CHUNK) {
    const chunk = await batches.readStaging<Staged>(batchId, offset, CHUNK);
    const outcome = await enqueueChunk(deps, caller, batchId, chunk, queueFull);
    queueFull = outcome.queueFull;
    refusedLate += outcome.refused.length;
    for (const e of outcome.refused) if (errors.length < MAX_ERRORS_IN_ANSWER) errors.push(e);
  }
  await batches.dropStaging(batchId);
  if (queueFull && refusedLate === valid) {
    // Nothing of it could be queued: refuse the batch as a whole (503 queue_full, Retry-After).
    await batches.discard(batchId, caller.tenant);
    throw queueFull;
  }
  if (refusedLate > 0)
    await batches.setCounts(batchId, { valid: valid - refusedLate, invalid: total - valid + refusedLate });
  const finished = await batches.markEnqueued(batchId);
  await deps.jobs.lifecycle.afterItemEnd(batchId, finished);
  if ((await batches.status(batchId)) === 'canceling') await cancelBatchItems(deps, batchId);
  deps.logger.info({ batchId, tenant: caller.tenant, total, valid: valid - refusedLate }, 'batch accepted');
  return { batchId, errors };
}

interface ChunkOutcome {
  queueFull: KilnError | undefined;
  refused: SubmittedBatch['errors'];
}

/** What an earlier job of the same custom_id and body can do for a resubmitted item. */
async function reusable(deps: ApiDeps, tenant: string, jobId: string | null): Promise<JobView | undefined> {
  const view = jobId ? await loadView(deps.queue, jobId) : undefined;
  if (!view || view.job.data.tenant !== tenant) return undefined;
  if (view.status === 'failed' || view.status === 'canceled') return undefined; // render it again
  return view;
}

async function enqueueChunk(
  deps: ApiDeps,
  caller: Caller,
  batchId: string,
  chunk: Staged[],
  queueFullBefore: KilnError | undefined,
): Promise<ChunkOutcome> {
  const { batches, fair, lifecycle } = deps.jobs;
  const items = chunk.filter((s): s is StagedItem => s.kind === 'item');
  const earlier = await batches.lookupIndex(
    caller.tenant,
    items.map((s) => s.hash),
  );
  const reuse = new Map<string, JobView>();
  await Promise.all(
    items.map(async (s, k) => {
      const found = await reusable(deps, caller.tenant, earlier[k]);
      if (found) reuse.set(s.job_id, found);
    }),
  );
  let fresh = items.filter((s) => !reuse.has(s.job_id));
  let queueFull = queueFullBefore;
  const refused: ChunkOutcome['refused'] = [];
  const refuse = (s: StagedItem, code: ErrorCode, message: string) =>
    refused.push({ index: s.i, line: s.line, custom_id: s.custom_id, error: { code, message } });

  if (fresh.length > 0 && !queueFull) {
    const tags = await fair.assign(
      caller.tenant,
      fresh.map((s) => s.cost),
    );
    const tagged = fresh.map((s, k) => ({ item: s, ...tags[k] }));
    const submittedAt = Date.now();
    const add = (group: typeof tagged) =>
      admitJobs(
        deps,
        caller,
        group.map(({ item }) => ({ jobId: item.job_id, createdAt: submittedAt, batchId })),
        async () =>
          group.map(({ item, tag, priority }) => ({
            name: item.job.family,
            data: { ...item.job, submittedAt, fairTag: tag },
            opts: { jobId: item.job_id, priority },
          })),
      );
    // The key's max_queued_jobs may take only part of the chunk: admit what fits (halving down to
    // one item at the boundary), refuse the rest with queue_full.
    const admitted: StagedItem[] = [];
    const admit = async (group: typeof tagged): Promise<boolean> => {
      try {
        await add(group);
        admitted.push(...group.map(({ item }) => item));
        return true;
      } catch (err) {
        if (!(err instanceof KilnError) || err.code !== 'queue_full') throw err;
        queueFull = err;
        if (group.length === 1) return false;
        const half = Math.ceil(group.length / 2);
        return (await admit(group.slice(0, half))) && (await admit(group.slice(half)));
      }
    };
    await admit(tagged);
    await batches.writeIndex(
      caller.tenant,
      admitted.map((s) => ({ hash: s.hash, jobId: s.job_id })),
    );
    const admittedIds = new Set(admitted.map((s) => s.job_id));
    for (const s of fresh)
      if (!admittedIds.has(s.job_id))
        refuse(s, 'queue_full', `not queued: ${(queueFull as KilnError | undefined)?.message}`);
    fresh = admitted;
  } else if (queueFull) {
    for (const s of fresh) refuse(s, 'queue_full', `not queued: ${queueFull.message}`);
    fresh = [];
  }
  const freshIds = new Set(fresh.map((s) => s.job_id));
  const refusedByIndex = new Map(refused.map((r) => [r.index, r]));

  const entries: BatchItemEntry[] = chunk.map((s) => {
    if (s.kind === 'error') return { i: s.i, line: s.line, custom_id: s.custom_id, error: s.error };
    const refusal = refusedByIndex.get(s.i);
    if (refusal) return { i: s.i, line: s.line, custom_id: s.custom_id, error: refusal.error };
    const earlierJob = reuse.get(s.job_id);
    if (earlierJob)
      return { i: s.i, line: s.line, custom_id: s.custom_id, job_id: earlierJob.job.id as string, reused: true };
    return { i: s.i, line: s.line, custom_id: s.custom_id, job_id: s.job_id };
  });
  await batches.appendItems(batchId, entries);

  // Reused jobs: count the finished ones now; wait on the others like on our own items.
  for (const { job, status } of reuse.values()) {
    const jobId = job.id as string;
    if (status !== 'completed') {
      await batches.watch(jobId, batchId);
      if (status === 'running') await batches.markActive(batchId, jobId);
      // it may have ended between the status read and the watch: look again
      const now = await loadView(deps.queue, jobId);
      if (!now || now.status === 'queued' || now.status === 'running') continue;
      const counted = await batches.recordEnd(
        batchId,
        jobId,
        now.status,
        itemOutcome(jobSnapshot(now.job), now.status),
      );
      await lifecycle.afterItemEnd(batchId, counted);
      continue;
    }
    const counted = await batches.recordEnd(batchId, jobId, 'completed', itemOutcome(jobSnapshot(job), 'completed'));
    await lifecycle.afterItemEnd(batchId, counted);
  }
  await batches.incrementReused(batchId, reuse.size);
  // Inputs stored for items that reuse an earlier job are not needed.
  await Promise.all(
    items
      .filter((s) => !freshIds.has(s.job_id) && Object.keys(s.job.inputs).length > 0)
      .map((s) => deps.store.delete(`inputs/${s.job_id}`)),
  );
  return { queueFull, refused };
}

/**
 * Cancels every item of a batch that has not ended: waiting ones at once, running ones at their
 * next denoising step (their worker reports the end). Items reused from another batch's job are
 * only counted canceled here: the job itself belongs to that other batch.
 */
export async function cancelBatchItems(deps: ApiDeps, batchId: string): Promise<void> {
  const { batches, lifecycle } = deps.jobs;
  for (let offset = 0; ; offset += CHUNK) {
    const entries = await batches.items(batchId, offset, CHUNK);
    if (entries.length === 0) break;
    const withJobs = entries.filter((e): e is BatchItemEntry & { job_id: string } => e.job_id !== undefined);
    const ended = await batches.endedAmong(
      batchId,
      withJobs.map((e) => e.job_id),
    );
    const open = withJobs.filter((_e, k) => !ended[k]);
    for (let k = 0; k < open.length; k += CANCEL_CONCURRENCY) {
      await Promise.all(
        open.slice(k, k + CANCEL_CONCURRENCY).map(async (entry) => {
          if (entry.reused) {
            const job = (await deps.queue.getJob(entry.job_id)) as RenderJob | undefined;
            if (!job) return;
            const canceled: JobSnapshot = {
              ...jobSnapshot(job),
              failedReason: encodeFailure({ ...CANCELED, message: 'the batch was canceled' }),
            };
            await lifecycle.afterItemEnd(
              batchId,
              await batches.recordEnd(batchId, entry.job_id, 'canceled', itemOutcome(canceled, 'canceled')),
            );
            return;
          }
          // waiting: its end is recorded now; running: its worker ends it and reports; finished: already counted
          await cancelJob(deps.redis, deps.jobs, entry.job_id);
        }),
      );
    }
  }
}
