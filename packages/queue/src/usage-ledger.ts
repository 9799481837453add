/**
 * Usage per API key and UTC day (CONTRACT §5): jobs, images, denoising steps, megapixel-steps and
 * worker-seconds. A job is counted when it ends (completed, failed for good, or canceled), exactly
 * once: one Lua script sets a per-job marker with SET NX and adds to the day's counters only
 * when the marker was not there, so a job that is retried, or whose end is reported twice (a
 * worker that died after recording, a cancel racing with completion), is counted once. Worker
 * time of attempts that did not end the job is carried in a per-job counter and added then.
 */
import type { Redis } from 'ioredis';
import { kilnKeys } from './kiln-keys.js';
import { LuaScript } from './lua-script.js';

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
  /** Worker time of this attempt, in milliseconds. */
  workerMs: number;
  /** When the job ended (ms); picks the day. Default now. */
  endedAt?: number;
}

/**
 * KEYS: marker, attempts counter, day hash, tenant's key set, the key's open-jobs set.
 * ARGV: final, worker ms, marker ttl, usage ttl, key id, outcome, images, steps, megapixel-steps, job id.
 */
const RECORD = new LuaScript(`
local workerMs = tonumber(ARGV[2])
if ARGV[1] ~= '1' then
  redis.call('INCRBY', KEYS[2], workerMs)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
  return 0
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then return 0 end
local earlier = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('DEL', KEYS[2])
redis.call('HINCRBY', KEYS[3], 'jobs', 1)
redis.call('HINCRBY', KEYS[3], 'jobs_' .. ARGV[6], 1)
redis.call('HINCRBY', KEYS[3], 'images', ARGV[7])
redis.call('HINCRBY', KEYS[3], 'steps', ARGV[8])
redis.call('HINCRBYFLOAT', KEYS[3], 'megapixel_steps', ARGV[9])
redis.call('HINCRBY', KEYS[3], 'worker_ms', earlier + workerMs)
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
redis.call('EXPIRE', KEYS[4], ARGV[4])
redis.call('ZREM', KEYS[5], ARGV[10])
return 1
`);

/** `YYYY-MM-DD` of a time, in UTC. */
export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/**
 * Records the end of one attempt. `final: false` (the job will be retried) only carries the
 * attempt's worker time forward; `final: true` counts the job, once. Returns whether this call
 * counted it. Also gives the job's `max_queued_jobs` slot back.
 */
export async function recordJobUsage(redis: Redis, prefix: string, usage: JobUsage, final: boolean): Promise<boolean> {
  const keys = kilnKeys(prefix);
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
      final ? '1' : '0',
      Math.max(0, Math.round(usage.workerMs)),
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
  redis: Redis,
  prefix: string,
  tenant: string,
  range: { from: string; to: string; keyIds?: readonly string[] },
): Promise<UsageRow[]> {
  const keys = kilnKeys(prefix);
  const keyIds = (range.keyIds ?? (await redis.smembers(keys.usageKeys(tenant)))).slice().sort();
  const days: string[] = [];
  for (let t = Date.parse(`${range.from}T00:00:00Z`); t <= Date.parse(`${range.to}T00:00:00Z`); t += 86_400_000) days.push(utcDay(t));
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
export async function tenantHasUsageKey(redis: Redis, prefix: string, tenant: string, keyId: string): Promise<boolean> {
  return (await redis.sismember(kilnKeys(prefix).usageKeys(tenant), keyId)) === 1;
}
