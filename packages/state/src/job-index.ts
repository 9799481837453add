/**
 * Per-tenant index of jobs, newest first, for `GET /v1/jobs` (BullMQ's own sets are per state
 * and shared by every tenant). Every code path that creates a render job indexes it here, with
 * its batch id when it is a batch item. Entries of jobs removed by result retention are trimmed
 * by age when jobs are added, and skipped (and dropped) when a listing meets them.
 */
import type { RedisClient } from '@kiln/queue';
import type { ChainableCommander } from 'ioredis';
import { stateKeys } from './state-keys.js';

export interface IndexedJob {
  tenant: string;
  jobId: string;
  /** Creation time (ms); the sort order. */
  createdAt: number;
  batchId?: string;
}

/** Adds jobs to their tenant's index (and batch index), and trims entries older than `retentionMs`. */
export async function indexJobs(
  redis: RedisClient,
  prefix: string,
  jobs: readonly IndexedJob[],
  retentionMs: number,
): Promise<void> {
  if (jobs.length === 0) return;
  const multi = redis.multi();
  queueIndexJobs(multi, prefix, jobs, retentionMs);
  await multi.exec();
}

/**
 * The commands of {@link indexJobs} queued on a caller's MULTI: the API's admission adds them to
 * the transaction that adds the jobs themselves (job-admission.ts), so a job is listed exactly
 * when it exists.
 */
export function queueIndexJobs(
  multi: ChainableCommander,
  prefix: string,
  jobs: readonly IndexedJob[],
  retentionMs: number,
): void {
  const keys = stateKeys(prefix);
  const touched = new Set<string>();
  for (const job of jobs) {
    const tenantKey = keys.tenantJobs(job.tenant);
    multi.zadd(tenantKey, job.createdAt, job.jobId);
    touched.add(tenantKey);
    if (job.batchId) {
      const batchKey = keys.batchJobs(job.tenant, job.batchId);
      multi.zadd(batchKey, job.createdAt, job.jobId);
      touched.add(batchKey);
    }
  }
  const oldest = Date.now() - retentionMs;
  for (const key of touched) {
    multi.zremrangebyscore(key, '-inf', `(${oldest}`);
    // The index outlives its last job by the retention, then goes.
    multi.pexpire(key, retentionMs + 3600_000);
  }
}

/** A position in a listing: the last entry returned (score, then id, both descending). */
export interface JobCursor {
  createdAt: number;
  jobId: string;
}

export function encodeCursor(cursor: JobCursor): string {
  return Buffer.from(`${cursor.createdAt}:${cursor.jobId}`).toString('base64url');
}

/** Undefined for a cursor Kiln did not write. */
export function decodeCursor(text: string): JobCursor | undefined {
  const match = /^(\d{1,16}):(.{1,200})$/s.exec(Buffer.from(text, 'base64url').toString('utf8'));
  return match ? { createdAt: Number(match[1]), jobId: match[2] } : undefined;
}

/**
 * The ids of an index after `cursor`, newest first, in chunks. Redis orders equal scores by
 * member, descending, in ZREVRANGEBYSCORE, which makes (score, id) a total order to resume from.
 */
export async function* indexedJobIds(
  redis: RedisClient,
  indexKey: string,
  cursor: JobCursor | undefined,
  chunkSize = 100,
): AsyncGenerator<JobCursor> {
  const max = cursor ? String(cursor.createdAt) : '+inf';
  for (let offset = 0; ; offset += chunkSize) {
    const rows = await redis.zrevrangebyscore(indexKey, max, '-inf', 'WITHSCORES', 'LIMIT', offset, chunkSize);
    // WITHSCORES answers member, score, member, score, …
    for (let i = 0; i + 1 < rows.length; i += 2) {
      const [jobId, createdAt] = [rows[i], Number(rows[i + 1])];
      if (cursor && createdAt === cursor.createdAt && jobId >= cursor.jobId) continue;
      yield { createdAt, jobId };
    }
    if (rows.length < chunkSize * 2) return;
  }
}

/** Drops index entries whose job is gone (removed by retention). */
export async function unindexJobs(redis: RedisClient, indexKey: string, jobIds: readonly string[]): Promise<void> {
  if (jobIds.length) await redis.zrem(indexKey, ...jobIds);
}
