/**
 * Usage per API key and UTC day (docs/api.md, "Usage"): jobs, images, denoising steps,
 * megapixel-steps and worker-seconds. A job is counted when it ends (completed, failed for good,
 * or canceled), exactly once: one Lua script sets a per-job marker with SET NX and adds to the
 * day's counters only when the marker was not there, so an end reported twice (a worker that died
 * after recording, the end reconciler replaying it, a cancel racing with completion) is counted
 * once. Worker time is added per attempt to a per-job counter and moved to the day then.
 */
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';
import { LuaScript } from '@kiln/queue';

/** How long usage is kept. */
const USAGE_TTL_S = 400 * 24 * 3600;
/** How long the exactly-once marker outlives a job: longer than any retry or stall rescue. */
const MARKER_TTL_S = 30 * 24 * 3600;

export type JobOutcome = 'completed' | 'failed' | 'canceled';

export interface JobUsage {
  tenant: string;
  keyId: string;
  jobId: string;
  outcome: JobOutcome;
  /** Images delivered (0 unless completed). */
  images: number;
  /** Denoising steps per image. */
  stepsPerImage: number;
  width: number;
  height: number;
  /** When the job ended (ms); picks the day. Default now. */
  endedAt?: number;
}

/** KEYS: attempts counter. ARGV: worker ms, ttl. */
const ADD_ATTEMPT = new LuaScript(`
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
`);

/**
 * KEYS: marker, attempts counter, day hash, tenant's key set, the key's open-jobs set.
 * ARGV: marker ttl, usage ttl, key id, outcome, images, steps, megapixel-steps, job id.
 */
const RECORD = new LuaScript(`
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local workerMs = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[3], 'jobs', 1)
redis.call('HINCRBY', KEYS[3], 'jobs_' .. ARGV[4], 1)
redis.call('HINCRBY', KEYS[3], 'images', ARGV[5])
redis.call('HINCRBY', KEYS[3], 'steps', ARGV[6])
redis.call('HINCRBYFLOAT', KEYS[3], 'megapixel_steps', ARGV[7])
redis.call('HINCRBY', KEYS[3], 'worker_ms', workerMs)
redis.call('EXPIRE', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[8])
return 1
`);

/** `YYYY-MM-DD` of a time, in UTC. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * Adds one attempt's worker time to the job's account; it is counted in the day's usage when
 * the job ends ({@link recordJobUsage}). A worker records every attempt this way, so retried and
 * final attempts are paid for alike.
 */
export async function recordAttemptTime(
  redis: RedisClient,
  prefix: string,
  jobId: string,
  workerMs: number,
): Promise<void> {
  await ADD_ATTEMPT.run(
    redis,
    [stateKeys(prefix).usageAttempts(jobId)],
    [Math.max(0, Math.round(workerMs)), MARKER_TTL_S],
  );
}

/**
 * Counts a job that ended (completed, failed for good, or canceled), exactly once: later calls for
 * the same job change nothing and return false. Adds the worker time of all its attempts and gives
 * the job's `max_queued_jobs` slot back.
 */
export async function recordJobUsage(redis: RedisClient, prefix: string, usage: JobUsage): Promise<boolean> {
  const keys = stateKeys(prefix);
  const steps = usage.images * usage.stepsPerImage;
  const megapixelSteps = ((usage.width * usage.height) / 1e6) * steps;
  const day = utcDay(usage.endedAt ?? Date.now());
  const counted = await RECORD.run(
    redis,
    [
      keys.usageRecorded(usage.jobId),
      keys.usageAttempts(usage.jobId),
      keys.usageDay(usage.tenant, usage.keyId, day),
      keys.usageKeys(usage.tenant),
      keys.openJobs(usage.keyId),
    ],
    [
      MARKER_TTL_S,
      USAGE_TTL_S,
      usage.keyId,
      usage.outcome,
      usage.images,
      steps,
      megapixelSteps.toFixed(6),
      usage.jobId,
    ],
  );
  return counted === 1;
}

export interface UsageRow {
  date: string;
  key_id: string;
  jobs: number;
  jobs_completed: number;
  jobs_failed: number;
  jobs_canceled: number;
  images: number;
  steps: number;
  megapixel_steps: number;
  worker_seconds: number;
}

/** Usage rows of a tenant's keys (or the given ones) for each day from `from` to `to` (inclusive, `YYYY-MM-DD`). */
export async function readUsage(
  redis: RedisClient,
  prefix: string,
  tenant: string,
  range: { from: string; to: string; keyIds?: readonly string[] },
): Promise<UsageRow[]> {
  const keys = stateKeys(prefix);
  const keyIds = (range.keyIds ?? (await redis.smembers(keys.usageKeys(tenant)))).slice().sort();
  const days: string[] = [];
  for (let t = Date.parse(`${range.from}T00:00:00Z`); t <= Date.parse(`${range.to}T00:00:00Z`); t += 86_400_000)
    days.push(utcDay(t));
  const pipeline = redis.pipeline();
  const cells = days.flatMap((date) => keyIds.map((keyId) => ({ date, keyId })));
  for (const { date, keyId } of cells) pipeline.hgetall(keys.usageDay(tenant, keyId, date));
  const results = cells.length ? ((await pipeline.exec()) ?? []) : [];
  const rows: UsageRow[] = [];
  cells.forEach(({ date, keyId }, i) => {
    const [err, hash] = results[i] as [Error | null, Record<string, string>];
    if (err) throw err;
    if (!hash || Object.keys(hash).length === 0) return;
    const n = (field: string) => Number(hash[field] ?? 0);
    rows.push({
      date,
      key_id: keyId,
      jobs: n('jobs'),
      jobs_completed: n('jobs_completed'),
      jobs_failed: n('jobs_failed'),
      jobs_canceled: n('jobs_canceled'),
      images: n('images'),
      steps: n('steps'),
      megapixel_steps: Math.round(n('megapixel_steps') * 1e6) / 1e6,
      worker_seconds: n('worker_ms') / 1000,
    });
  });
  return rows;
}

/** Whether a key id has usage recorded under this tenant. */
export async function tenantHasUsageKey(
  redis: RedisClient,
  prefix: string,
  tenant: string,
  keyId: string,
): Promise<boolean> {
  return (await redis.sismember(stateKeys(prefix).usageKeys(tenant), keyId)) === 1;
}
