/**
 * Retries never duplicate work: a synchronous generation repeated by the same caller (tenant and
 * API key) with the same normalised body on the same endpoint, while the first one's job is still
 * queued or running, attaches to that job and answers with its result. OctoAI's SDK retries a 504
 * (the sync wait ran out) twice within milliseconds; without this each retry would render again.
 *
 * Not for: async requests (each `X-OctoAI-Async: 1` POST is a new job: its 201 comes at once, so
 * there is nothing to retry), requests with an `Idempotency-Key` (that protocol decides), and
 * requests with `X-Kiln-Dedupe: off`. The body is compared after validation (defaults applied,
 * nulls dropped), so a request without a seed is "the same request" as another without a seed.
 */
import { KilnError, type GenerateRequest } from '@kiln/contracts';
import { IdempotencyConflictError, releaseWhileOpen, requestFingerprint, runWhileOpen } from '@kiln/state';
import type { Request, Response } from 'express';
import type { Caller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { idempotencyKeyOf } from './idempotency.js';

export const DEDUPE_HEADER = 'X-Kiln-Dedupe';

/** BullMQ states of a job that has not ended. */
const OPEN_STATES = new Set(['waiting', 'prioritized', 'delayed', 'active', 'waiting-children']);

/**
 * The longest a request's record holds its job: the SDK's three attempts of a full sync wait each,
 * and then some, and never less than 15 minutes (the job usually ends, and releases it, far sooner).
 */
export const retryWindowMs = (syncTimeoutMs: number) => Math.max(4 * syncTimeoutMs, 15 * 60_000);

/** Whether this request may attach to an identical open one. */
export function dedupes(req: Request, isAsync: boolean): boolean {
  if (isAsync || idempotencyKeyOf(req) !== undefined) return false;
  const header = req.get(DEDUPE_HEADER)?.trim().toLowerCase();
  return header !== 'off';
}

export interface Attached {
  id: string;
  /** Drops the record once the job has ended, so the next identical request renders anew. */
  release(): Promise<void>;
}

/**
 * Runs `create` (which returns the new job's id) unless an identical request of this caller has
 * an open job; then returns that job's id and marks the answer `X-Kiln-Dedupe: attached`.
 */
export async function createOrAttach(
  deps: Pick<ApiDeps, 'redis' | 'config' | 'queue'>,
  req: Request,
  res: Response,
  caller: Caller,
  request: GenerateRequest,
  create: () => Promise<string>,
): Promise<Attached> {
  const scope = {
    redis: deps.redis,
    prefix: deps.config.queuePrefix,
    tenant: caller.tenant,
    keyId: caller.keyId,
    fingerprint: requestFingerprint(req.method, req.baseUrl + req.path, request),
  };
  const isOpen = async (jobId: string) => OPEN_STATES.has(await deps.queue.getJobState(jobId));
  try {
    const { id, replayed } = await runWhileOpen(
      { ...scope, isOpen, ttlMs: retryWindowMs(deps.config.syncTimeoutMs) },
      create,
    );
    if (replayed) res.set(DEDUPE_HEADER, 'attached');
    return { id, release: () => releaseWhileOpen(scope, id).catch(() => undefined) };
  } catch (err) {
    if (err instanceof IdempotencyConflictError) {
      // Only `in_progress` can happen here: the fingerprint is the record's key.
      throw new KilnError('conflict', 'an identical request is still being queued; retry in a moment', {
        retryAfterSeconds: 1,
      });
    }
    throw err;
  }
}
