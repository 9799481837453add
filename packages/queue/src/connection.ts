import { parseRedisUrl } from '@kiln/config';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** One Redis or a Redis Cluster: everything Kiln does with Redis works on both (docs/operations.md). */
export type RedisClient = Redis | Cluster;

/**
 * Options that belong to the cluster client rather than to its connections to each node: the
 * offline queue and reconnecting are the cluster's (it re-reads the layout when it reconnects).
 */
function clusterOptions(options: RedisOptions): ClusterOptions {
  const { enableOfflineQueue, retryStrategy, lazyConnect, ...nodeOptions } = options;
  return {
    lazyConnect,
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) ?? null } : {}),
    redisOptions: nodeOptions,
  };
}

/**
 * A Redis connection as BullMQ wants it: `maxRetriesPerRequest: null` so blocking commands of
 * workers are retried across reconnects instead of failing jobs. A `redis-cluster://` URL gives
 * ioredis' Cluster client with the same options for its connection to each node.
 */
export function createRedis(url: string | undefined, options: RedisOptions = {}): RedisClient {
  const target = parseRedisUrl(url ?? DEFAULT_REDIS_URL);
  const merged: RedisOptions = { maxRetriesPerRequest: null, ...options };
  if (!target.cluster) return new Redis(target.url, merged);
  const cluster = clusterOptions({
    ...merged,
    ...(target.username ? { username: target.username } : {}),
    ...(target.password ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
  });
  return new Cluster(target.nodes, cluster);
}

/** Resolves when Redis (a cluster: one of its nodes, and its layout) answers PING, or rejects after `timeoutMs`. */
export async function pingRedis(url: string | undefined, timeoutMs = 1000): Promise<boolean> {
  const redis = createRedis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** The clients that hold keys: the client itself, or every master of a cluster. */
export function masterNodes(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}
