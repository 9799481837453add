import { Redis, type RedisOptions } from 'ioredis';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * A Redis connection as BullMQ wants it: `maxRetriesPerRequest: null` so blocking commands of
 * workers are retried across reconnects instead of failing jobs.
 */
export function createRedis(url: string | undefined, options: RedisOptions = {}): Redis {
  return new Redis(url ?? DEFAULT_REDIS_URL, { maxRetriesPerRequest: null, ...options });
}

/** Resolves when Redis answers PING, or rejects after `timeoutMs`. */
export async function pingRedis(url: string | undefined, timeoutMs = 1000): Promise<boolean> {
  const redis = new Redis(url ?? DEFAULT_REDIS_URL, {
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
