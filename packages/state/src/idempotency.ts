/**
 * `Idempotency-Key` (docs/api.md): the same key with the same request within 24 h gives the same
 * resource (job, batch, …); the same key with another request is a conflict.
 *
 * Concurrency: the first request claims the key with `SET NX` (a "pending" record with a short
 * lease) *before* it creates anything; every other request with that key reads the record and
 * waits until the winner writes the resource id into it, then answers with that id. So twenty
 * identical requests at once make one job. If the winner fails before creating anything (bad
 * input, queue full, crash), its claim is released (or its lease lapses) and a waiter takes over.
 *
 * `runWhileOpen` is the same protocol without a key: a retried synchronous generation attaches to
 * the job of the identical request before it, for as long as that job is open.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';
import { LuaScript } from '@kiln/queue';

/** How long a finished key answers with the same resource. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** How long a claim may stay pending before another request may take it over (a crashed API). */
export const IDEMPOTENCY_LEASE_MS = 60_000;
/** Longest accepted `Idempotency-Key` header. */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 256;

interface IdempotencyRecord {
  /** SHA-256 of the request (method, path, canonical body). */
  fingerprint: string;
  /** The created resource's id; absent while the winner is still creating it. */
  id?: string;
  /** Random token of the request that holds a pending claim. */
  owner?: string;
}

/** The request an Idempotency-Key is bound to: same fingerprint = same request. */
export function requestFingerprint(method: string, path: string, body: unknown): string {
  const bodyText = Buffer.isBuffer(body) ? body.toString('base64') : canonicalJson(body);
  return createHash('sha256').update(`${method.toUpperCase()} ${path}\n${bodyText}`).digest('hex');
}

/** JSON with object keys sorted, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are the same body. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return '';
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

export class IdempotencyConflictError extends Error {
  override readonly name = 'IdempotencyConflictError';
  constructor(
    message: string,
    /** `mismatch`: the key was used with another request; `in_progress`: the first request has not finished. */
    readonly reason: 'mismatch' | 'in_progress',
  ) {
    super(message);
  }
}

/** Writes the id into a pending record, only while this request still owns the claim. */
const COMPLETE = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

/** Deletes a pending record, only while this request still owns the claim. */
const RELEASE = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.owner ~= ARGV[1] or record.id then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

export interface IdempotentOptions {
  redis: RedisClient;
  /** The queue prefix (KILN_QUEUE_PREFIX). */
  prefix: string;
  /** Keys are scoped to a tenant: two tenants may use the same key for different things. */
  tenant: string;
  /** The `Idempotency-Key` header. */
  key: string;
  /** {@link requestFingerprint} of the request. */
  fingerprint: string;
  /** Longest time to wait for a concurrent first request to finish; default the lease. */
  waitMs?: number;
}

/** Deletes a finished record, only while it still names the given resource id. */
const DROP = new LuaScript(`
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local record = cjson.decode(raw)
if record.id ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * Runs `create` once per (tenant, key): returns `{ id, replayed: false }` for the request that
 * created the resource and `{ id, replayed: true }` for every later (or concurrent) request with
 * the same key and fingerprint. Throws {@link IdempotencyConflictError} for another fingerprint.
 * Errors of `create` release the claim and propagate.
 */
export async function runIdempotent(
  options: IdempotentOptions,
  create: () => Promise<string>,
): Promise<{ id: string; replayed: boolean }> {
  const keyDigest = createHash('sha256').update(options.key).digest('hex');
  const recordKey = stateKeys(options.prefix).idempotency(options.tenant, keyDigest);
  return claimOnce({ ...options, recordKey, ttlMs: IDEMPOTENCY_TTL_MS }, create);
}

interface ClaimOptions {
  redis: RedisClient;
  recordKey: string;
  fingerprint: string;
  /** How long a finished record answers with its resource. */
  ttlMs: number;
  waitMs?: number;
  /**
   * Whether a finished record's resource may still be answered; when not, the record is dropped
   * and this request creates a new one.
   */
  reusable?: (id: string) => Promise<boolean>;
}

/** The Redis protocol of {@link runIdempotent} and {@link runWhileOpen}, on one record key. */
async function claimOnce(
  options: ClaimOptions,
  create: () => Promise<string>,
): Promise<{ id: string; replayed: boolean }> {
  const { redis, recordKey, fingerprint } = options;
  const deadline = Date.now() + (options.waitMs ?? IDEMPOTENCY_LEASE_MS + 5_000);
  const owner = randomUUID();
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    const pending: IdempotencyRecord = { fingerprint, owner };
    const claimed = await redis.set(recordKey, JSON.stringify(pending), 'PX', IDEMPOTENCY_LEASE_MS, 'NX');
    if (claimed === 'OK') {
      let id: string;
      try {
        id = await create();
      } catch (err) {
        await RELEASE.run(redis, [recordKey], [owner]).catch(() => undefined);
        throw err;
      }
      const done: IdempotencyRecord = { fingerprint, id };
      await COMPLETE.run(redis, [recordKey], [owner, JSON.stringify(done), options.ttlMs]);
      return { id, replayed: false };
    }
    const raw = await redis.get(recordKey);
    if (raw === null) continue; // released or expired between the two calls: try to claim again
    const record = JSON.parse(raw) as IdempotencyRecord;
    if (record.fingerprint !== fingerprint) {
      throw new IdempotencyConflictError(
        'this Idempotency-Key was already used with a different request; use a new key for a new request',
        'mismatch',
      );
    }
    if (record.id) {
      if (!options.reusable || (await options.reusable(record.id))) return { id: record.id, replayed: true };
      await DROP.run(redis, [recordKey], [record.id]);
      continue; // the resource is spent: claim the key for a new one
    }
    if (Date.now() > deadline) {
      throw new IdempotencyConflictError(
        'a request with this Idempotency-Key is still being processed; retry later',
        'in_progress',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Options of {@link runWhileOpen}. */
export interface WhileOpenOptions {
  redis: RedisClient;
  /** The queue prefix (KILN_QUEUE_PREFIX). */
  prefix: string;
  /** The caller: the same request from another tenant or another API key is another request. */
  tenant: string;
  keyId: string;
  /** {@link requestFingerprint} of the request, normalised (defaults applied, nulls dropped). */
  fingerprint: string;
  /** Whether the job is still queued or running: only then does a repeat attach to it. */
  isOpen: (jobId: string) => Promise<boolean>;
  /** The longest a record holds a job, if nobody releases it. */
  ttlMs: number;
  /** Longest time to wait for a concurrent first request to create its job; default the lease. */
  waitMs?: number;
}

/**
 * Retries without an Idempotency-Key: the same request (fingerprint) from the same caller while
 * its job is still open gets that job (`replayed: true`) instead of creating another. The record
 * is keyed by the fingerprint itself, claimed with the same `SET NX` protocol as
 * {@link runIdempotent} (so concurrent identical requests make one job), and holds the job only
 * while it is open: a record whose job has ended is dropped on sight, {@link releaseWhileOpen}
 * drops it when the job ends, and it expires after `ttlMs` in any case.
 */
export function runWhileOpen(options: WhileOpenOptions, create: () => Promise<string>) {
  const recordKey = stateKeys(options.prefix).retryDedupe(options.tenant, options.keyId, options.fingerprint);
  return claimOnce({ ...options, recordKey, reusable: options.isOpen }, create);
}

/** Drops the record of {@link runWhileOpen} once its job has ended (only if it still names that job). */
export async function releaseWhileOpen(
  options: Pick<WhileOpenOptions, 'redis' | 'prefix' | 'tenant' | 'keyId' | 'fingerprint'>,
  jobId: string,
): Promise<void> {
  const recordKey = stateKeys(options.prefix).retryDedupe(options.tenant, options.keyId, options.fingerprint);
  await DROP.run(options.redis, [recordKey], [jobId]);
}
