/**
 * The API while Redis is away. Its connection fails fast instead of queueing: a command sent while
 * Redis is unreachable is refused at once (no offline queue), a command in flight when the
 * connection drops is rejected rather than re-sent on reconnect, and one that gets no answer
 * within `KILN_REDIS_COMMAND_TIMEOUT_MS` is abandoned. So a client that was told 503 never finds a
 * job created for it later by a queued command. ioredis reconnects by itself; the gate opens again
 * as soon as the connection is ready (or, after a timeout, as soon as Redis answers again).
 */
import { KilnError } from '@kiln/contracts';
import type { KilnConfig } from '@kiln/config';
import type { NextFunction, Request, Response } from 'express';
import type { RedisOptions } from 'ioredis';
import type { RedisClient } from '@kiln/queue';

/** Seconds a client is asked to wait while Redis is away. */
export const REDIS_RETRY_AFTER_SECONDS = 2;

/** ioredis options of the API's command connection (not of BullMQ's blocking event reader). */
export function failFastRedisOptions(config: Pick<KilnConfig, 'redisCommandTimeoutMs'>): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: config.redisCommandTimeoutMs,
    connectTimeout: 2000,
    // Reconnect quickly after an outage (ioredis' default backs off to 2 s as well).
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  };
}

export const redisUnavailable = () =>
  new KilnError('service_unavailable', 'Kiln cannot reach its Redis; nothing was done. Retry shortly', {
    retryAfterSeconds: REDIS_RETRY_AFTER_SECONDS,
  });

/**
 * Whether requests may go to Redis now. Closed while the connection is not ready, and also after a
 * command timed out on a connection that stayed open (a Redis that hangs): then one request waited
 * for the timeout, the following ones are refused at once until Redis answers a PING again.
 */
export class RedisGate {
  private unresponsive = false;

  constructor(
    private readonly redis: Pick<RedisClient, 'status' | 'ping'>,
    private readonly probeMs = 500,
  ) {}

  get open(): boolean {
    return this.redis.status === 'ready' && !this.unresponsive;
  }

  /** Every route behind this answers 503 at once while the gate is closed. */
  middleware() {
    return (_req: Request, _res: Response, next: NextFunction) => {
      next(this.open ? undefined : redisUnavailable());
    };
  }

  /** Notes a failed Redis command: a timeout closes the gate until a PING is answered. */
  failed(err: unknown): void {
    if (this.unresponsive || !(err instanceof Error) || !err.message.includes('Command timed out')) return;
    this.unresponsive = true;
    const probe = () => {
      this.redis.ping().then(
        () => (this.unresponsive = false),
        () => setTimeout(probe, this.probeMs).unref(),
      );
    };
    probe();
  }
}

const CONNECTION_ERRORS = [
  "Stream isn't writeable",
  'Connection is closed',
  'Command timed out',
  'Reached the max retries per request limit',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  // ioredis' Cluster client: no node answers, or the cluster lost a slot's master.
  "Cluster isn't ready",
  'None of startup nodes is available',
  'Failed to refresh slots cache',
  'CLUSTERDOWN',
];

/** Whether an error means Redis went away mid-request (so the answer is 503, not 500). */
export function isRedisUnavailableError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  const code = (err as NodeJS.ErrnoException).code;
  return CONNECTION_ERRORS.some((text) => err.message.includes(text) || code === text);
}

/** Resolves once the connection is ready: with no offline queue, nothing may be sent before. */
export async function untilReady(redis: RedisClient): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
}
