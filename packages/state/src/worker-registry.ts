/**
 * The fleet: each worker process announces itself and refreshes its entry on a heartbeat
 * (GET /v1/workers, /readyz). An entry is a key of its own that expires `ttlMs` after the last
 * heartbeat, so a worker that dies without saying goodbye (SIGKILL, a lost node) drops out by
 * itself; an index sorted by last heartbeat lists them without scanning Redis's keyspace.
 */
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';

/** What a worker says about itself (the wire shape of GET /v1/workers' items). */
export interface WorkerAnnouncement {
  id: string;
  host: string;
  pid: number;
  families: string[];
  models_loaded: string[];
  execution_provider: string;
  versions: { kiln: string; onnxruntime: string; node: string };
  current_job: string | null;
  started_at: string;
  last_heartbeat_at: string;
  /** Share of the last minute spent rendering, 0..1. */
  busy_ratio: number;
}

/** Writes or refreshes a worker's entry; it lapses `ttlMs` after this heartbeat unless refreshed. */
export async function heartbeatWorker(
  redis: RedisClient,
  prefix: string,
  worker: WorkerAnnouncement,
  ttlMs: number,
): Promise<void> {
  const keys = stateKeys(prefix);
  const now = Date.parse(worker.last_heartbeat_at);
  await redis
    .multi()
    .set(keys.worker(worker.id), JSON.stringify(worker), 'PX', ttlMs)
    .zadd(keys.workers, now, worker.id)
    // index members whose worker is long gone (their keys have expired)
    .zremrangebyscore(keys.workers, '-inf', now - 10 * ttlMs)
    .exec();
}

/** A worker leaving cleanly takes itself off the list at once. */
export async function withdrawWorker(redis: RedisClient, prefix: string, workerId: string): Promise<void> {
  const keys = stateKeys(prefix);
  await redis.multi().del(keys.worker(workerId)).zrem(keys.workers, workerId).exec();
}

/** The workers whose heartbeat has not lapsed, by id. */
export async function liveWorkers(redis: RedisClient, prefix: string): Promise<WorkerAnnouncement[]> {
  const keys = stateKeys(prefix);
  const ids = await redis.zrange(keys.workers, 0, -1);
  if (ids.length === 0) return [];
  // One GET per worker rather than MGET: the entries need not share a Redis Cluster slot.
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.get(keys.worker(id));
  const results = (await pipeline.exec()) ?? [];
  return results
    .map(([, text]) => (typeof text === 'string' ? (JSON.parse(text) as WorkerAnnouncement) : undefined))
    .filter((w): w is WorkerAnnouncement => w !== undefined)
    .sort((a, b) => a.id.localeCompare(b.id));
}
