/**
 * `Idempotency-Key` for the API's POST routes: the header, the request's fingerprint and the
 * Redis protocol of @kiln/state's `runIdempotent`, as one call for a route:
 *
 *   const { id, replayed } = await createOnce(deps, req, res, async () => createTheJob());
 *
 * Same key (per tenant) and same method + path + JSON body within 24 h → the id of the first
 * request's resource, `replayed: true`; the same key with another request → 409 `conflict`.
 * Without the header `create` simply runs. The `X-OctoAI-Async` header is not part of the
 * fingerprint: a sync retry of an async request waits for the same job.
 */
import { KilnError } from '@kiln/contracts';
import { IDEMPOTENCY_KEY_MAX_LENGTH, IdempotencyConflictError, requestFingerprint, runIdempotent } from '@kiln/state';
import type { Request, Response } from 'express';
import { callerOf } from './auth.js';
import type { ApiDeps } from './deps.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** A bad header: the FastAPI 422 shape with `loc: ["header", …]`. */
const headerError = (header: string, message: string) =>
  new KilnError('invalid_request', message, {
    validation: [{ loc: ['header', header.toLowerCase()], msg: message, type: 'value_error' }],
  });

/** The request's Idempotency-Key, or undefined; 422 when it is empty or too long. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const key = req.get(IDEMPOTENCY_HEADER);
  if (key === undefined) return undefined;
  if (key.trim().length === 0 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH) {
    throw headerError(
      IDEMPOTENCY_HEADER,
      `${IDEMPOTENCY_HEADER} must be 1 to ${IDEMPOTENCY_KEY_MAX_LENGTH} characters`,
    );
  }
  return key;
}

/**
 * Runs `create` (which returns the new resource's id) at most once per Idempotency-Key.
 * `body` defaults to the parsed JSON body; pass the raw bytes for non-JSON bodies (JSONL).
 */
export async function createOnce(
  deps: Pick<ApiDeps, 'redis' | 'config'>,
  req: Request,
  res: Response,
  create: () => Promise<string>,
  body: unknown = req.body,
): Promise<{ id: string; replayed: boolean }> {
  const key = idempotencyKeyOf(req);
  if (key === undefined) return { id: await create(), replayed: false };
  try {
    const outcome = await runIdempotent(
      {
        redis: deps.redis,
        prefix: deps.config.queuePrefix,
        tenant: callerOf(res).tenant,
        key,
        fingerprint: requestFingerprint(req.method, req.baseUrl + req.path, body),
      },
      create,
    );
    if (outcome.replayed) res.set('Idempotent-Replayed', 'true');
    return outcome;
  } catch (err) {
    if (err instanceof IdempotencyConflictError) {
      throw new KilnError('conflict', err.message, {
        details: { reason: err.reason },
        ...(err.reason === 'in_progress' && { retryAfterSeconds: 1 }),
      });
    }
    throw err;
  }
}
