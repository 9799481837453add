/**
 * The fleet's measured throughput in work units per second (work-units.ts), a moving average per
 * model family, model and execution provider. Workers publish after each completed job; the
 * backlog's worker-seconds divide by it. Entries do not expire: a fleet scaled to zero still knows
 * how fast its workers were, which is what sizes the first scale-up.
 */
import { LuaScript } from '@kiln/queue';
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';

/** Weight of the newest job in the moving average. */
export const THROUGHPUT_ALPHA = 0.2;

/** KEYS: hash. ARGV: field, units/s of this job, alpha, now (ms). */
const UPDATE = new LuaScript(`
local current = redis.call('HGET', KEYS[1], ARGV[1])
local rate = tonumber(ARGV[2])
local samples = 1
if current then
  local r, n = string.match(current, '^([^|]*)|([^|]*)|')
  local alpha = tonumber(ARGV[3])
  rate = alpha * rate + (1 - alpha) * tonumber(r)
  samples = tonumber(n) + 1
end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.9g', rate) .. '|' .. samples .. '|' .. ARGV[4])
return tostring(rate)
`);

export interface ThroughputSource {
  family: string;
  model: string;
  executionProvider: string;
}

export interface Throughput extends ThroughputSource {
  unitsPerSecond: number;
  samples: number;
  updatedAt: number;
}

const field = (s: ThroughputSource) => `${s.family}|${s.model}|${s.executionProvider}`;

/** Adds one job's measurement (`units` rendered in `seconds`); returns the new average. */
export async function recordThroughput(
  redis: RedisClient,
  prefix: string,
  source: ThroughputSource,
  units: number,
  seconds: number,
): Promise<number> {
  if (!(units > 0) || !(seconds > 0)) return NaN;
  const rate = await UPDATE.run(
    redis,
    [stateKeys(prefix).throughput],
    [field(source), units / seconds, THROUGHPUT_ALPHA, Date.now()],
  );
  return Number(rate);
}

export async function readThroughput(redis: RedisClient, prefix: string): Promise<Throughput[]> {
  const hash = await redis.hgetall(stateKeys(prefix).throughput);
  return Object.entries(hash).map(([key, value]) => {
    const [family, model, executionProvider] = key.split('|');
    const [rate, samples, at] = value.split('|');
    return {
      family,
      model,
      executionProvider,
      unitsPerSecond: Number(rate),
      samples: Number(samples),
      updatedAt: Number(at),
    };
  });
}

/**
 * One worker's throughput for a family's backlog: the mean of the averages of the (model,
 * execution provider) pairs live workers run, else of every pair ever measured, else `assumed`
 * (nothing measured yet: a new deployment).
 */
export function fleetThroughput(
  family: string,
  measured: readonly Throughput[],
  live: readonly ThroughputSource[],
  assumed: number,
): number {
  const ofFamily = measured.filter((t) => t.family === family && t.unitsPerSecond > 0);
  const liveKeys = new Set(live.filter((s) => s.family === family).map(field));
  const running = ofFamily.filter((t) => liveKeys.has(field(t)));
  const chosen = running.length ? running : ofFamily;
  if (chosen.length === 0) return assumed;
  return chosen.reduce((sum, t) => sum + t.unitsPerSecond, 0) / chosen.length;
}
