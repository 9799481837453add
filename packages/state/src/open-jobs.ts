/**
 * `max_queued_jobs` of an API key: how many of its jobs may be accepted and not yet ended
 * (queued or running). A sorted set per key holds them; a slot is taken atomically before a job
 * is enqueued, and given back when the job ends (the worker, or the API for a job canceled while
 * waiting). Slots of jobs that ended without giving theirs back (a job that exhausted its stall
 * retries, a lost Redis write) are reclaimed by checking their state when the key is at its limit.
 */
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';
import { LuaScript } from '@kiln/queue';
import type { RenderQueue } from '@kiln/queue';

/** KEYS: open set. ARGV: limit, member ids…, now. Adds all or none; returns the count before, or -count when over. */
const RESERVE = new LuaScript(`
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[1])
local n = #ARGV - 2
if count + n > limit then return -count - 1 end
for i = 2, #ARGV - 1 do redis.call('ZADD', KEYS[1], ARGV[#ARGV], ARGV[i]) end
return count
`);

export type ReserveResult = { ok: true } | { ok: false; open: number };

async function reserveOnce(
  redis: RedisClient,
  key: string,
  limit: number,
  jobIds: readonly string[],
): Promise<ReserveResult> {
  const result = (await RESERVE.run(redis, [key], [limit, ...jobIds, Date.now()])) as number;
  return result >= 0 ? { ok: true } : { ok: false, open: -result - 1 };
}

/**
 * Takes slots for `jobIds` under `limit`; when the key looks full, first drops the slots of jobs
 * that have ended or no longer exist, then tries again.
 */
export async function reserveOpenJobs(
  redis: RedisClient,
  queue: RenderQueue,
  keyId: string,
  limit: number,
  jobIds: readonly string[],
): Promise<ReserveResult> {
  const key = stateKeys(queue.opts.prefix ?? 'bull').openJobs(keyId);
  const first = await reserveOnce(redis, key, limit, jobIds);
  if (first.ok) return first;
  const rows = await redis.zrange(key, 0, -1, 'WITHSCORES');
  // A slot taken moments ago may belong to a job whose request is still storing its inputs.
  const enqueueGrace = Date.now() - 60_000;
  const finished = await Promise.all(
    rows
      .flatMap((id, i) => (i % 2 === 0 ? [{ id, reservedAt: Number(rows[i + 1]) }] : []))
      .map(async ({ id, reservedAt }) => {
        const [finishedOn, createdAt] = await redis.hmget(queue.toKey(id), 'finishedOn', 'timestamp');
        const gone = createdAt === null && reservedAt < enqueueGrace;
        return gone || finishedOn !== null ? id : undefined;
      }),
  );
  const stale = finished.filter((id): id is string => id !== undefined);
  if (stale.length === 0) return first;
  await redis.zrem(key, ...stale);
  return reserveOnce(redis, key, limit, jobIds);
}

/** Gives a job's slot back (job ended, or was never enqueued). */
export async function releaseOpenJobs(
  redis: RedisClient,
  prefix: string,
  keyId: string,
  jobIds: readonly string[],
): Promise<void> {
  if (jobIds.length) await redis.zrem(stateKeys(prefix).openJobs(keyId), ...jobIds);
}
