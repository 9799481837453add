import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import type { RedisClient } from './connection.js';
import type { RenderJobData, RenderJobResult } from '@kiln/contracts';
import { RENDER_QUEUE } from './render-job.js';

export type RenderQueue = Queue<RenderJobData, RenderJobResult>;

export interface RenderQueueOptions {
  prefix: string;
  /** Attempts before a job that fails inside Kiln is reported failed. */
  attempts: number;
  /** How long finished jobs (and so their results) are kept. */
  retentionMs: number;
}

export function createRenderQueue(connection: RedisClient, options: RenderQueueOptions): RenderQueue {
  const defaultJobOptions: JobsOptions = {
    attempts: options.attempts,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: Math.ceil(options.retentionMs / 1000) },
    removeOnFail: { age: Math.ceil(options.retentionMs / 1000) },
  };
  return new Queue<RenderJobData, RenderJobResult>(RENDER_QUEUE, {
    connection,
    prefix: options.prefix,
    defaultJobOptions,
  });
}

export function createRenderQueueEvents(connection: RedisClient, prefix: string): QueueEvents {
  return new QueueEvents(RENDER_QUEUE, { connection, prefix });
}

/**
 * Jobs ahead of `jobId` while it waits: non-prioritized jobs (the `wait` list, consumed from its
 * right end) run first, then prioritized ones by priority. Null when the job is not waiting.
 */
export async function queuePosition(client: RedisClient, queue: RenderQueue, jobId: string): Promise<number | null> {
  const waitKey = queue.toKey('wait');
  const index = await client.lpos(waitKey, jobId);
  if (index !== null) {
    const length = await client.llen(waitKey);
    return length - 1 - index;
  }
  const rank = await client.zrank(queue.toKey('prioritized'), jobId);
  if (rank !== null) return (await client.llen(waitKey)) + rank;
  return null;
}
