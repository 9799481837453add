/**
 * Per-API-key request rate limit in Redis, shared by every API process: the generic cell rate
 * algorithm (GCRA), the "virtual scheduling" form used by e.g. redis-cell. A key with a limit of
 * N per minute may send a burst of N requests, then one every 60/N seconds; one Redis key holds
 * the theoretical arrival time (TAT) of the next request. Redis' own clock (TIME) is used, so
 * API processes on machines with skewed clocks agree.
 */
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';
import { LuaScript } from '@kiln/queue';

/**
 * KEYS[1]: TAT key. ARGV: limit, period (ms).
 * Returns {allowed (1|0), retry after (ms), remaining}.
 */
const GCRA = new LuaScript(`
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local interval = period / limit
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local newTat = tat + interval
local allowAt = newTat - period
if allowAt > now then
  return {0, math.ceil(allowAt - now), 0}
end
redis.call('SET', KEYS[1], string.format('%.3f', newTat), 'PX', math.ceil(newTat - now))
return {1, 0, math.floor((now - allowAt) / interval)}
`);

export interface RateLimitDecision {
  allowed: boolean;
  /** When refused: milliseconds until one request is allowed again. */
  retryAfterMs: number;
  /** When allowed: requests still allowed at once after this one. */
  remaining: number;
}

/** Takes one request from `keyId`'s allowance of `limit` per `periodMs` (default one minute). */
export async function takeRateLimit(
  redis: RedisClient,
  prefix: string,
  keyId: string,
  limit: number,
  periodMs = 60_000,
): Promise<RateLimitDecision> {
  const [allowed, retryAfterMs, remaining] = (await GCRA.run(
    redis,
    [stateKeys(prefix).rateLimit(keyId)],
    [limit, periodMs],
  )) as [number, number, number];
  return { allowed: allowed === 1, retryAfterMs, remaining };
}
