/**
 * What each live worker can render: its memory budget and its model's memory profile, per model
 * family. Workers publish theirs when their model is loaded and refresh it while they run; the
 * API refuses, before anything is queued, a request that fits no live worker (docs/memory.md).
 * One hash per family, a field per worker; an entry not refreshed within `STALE_MS` is ignored
 * (a worker that died without saying goodbye).
 */
import type { ModelMemoryProfile } from '@kiln/memory';
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';

/** How often a worker refreshes its entry. */
export const CAPACITY_REFRESH_MS = 15_000;
/** An entry older than this belongs to a worker that is gone. */
const STALE_MS = 3 * CAPACITY_REFRESH_MS;

export interface WorkerCapacity {
  /** Peak bytes one render may take on this worker. */
  budgetBytes: number;
  profile: ModelMemoryProfile;
  /** The VAE tile side (latent pixels) the worker decodes with. */
  vaeTileLatent: number;
}

interface Entry extends WorkerCapacity {
  at: number;
}

export async function publishCapacity(
  redis: RedisClient,
  prefix: string,
  family: string,
  workerId: string,
  capacity: WorkerCapacity,
): Promise<void> {
  const entry: Entry = { ...capacity, at: Date.now() };
  await redis.hset(stateKeys(prefix).capacity(family), workerId, JSON.stringify(entry));
}

export async function withdrawCapacity(
  redis: RedisClient,
  prefix: string,
  family: string,
  workerId: string,
): Promise<void> {
  await redis.hdel(stateKeys(prefix).capacity(family), workerId);
}

/** The capacities of the family's live workers (none while no worker has published one). */
export async function liveCapacities(redis: RedisClient, prefix: string, family: string): Promise<WorkerCapacity[]> {
  const entries = Object.values(await redis.hgetall(stateKeys(prefix).capacity(family))).map(
    (text) => JSON.parse(text) as Entry,
  );
  const now = Date.now();
  return entries.filter((e) => now - e.at < STALE_MS).map(({ at: _at, ...capacity }) => capacity);
}
