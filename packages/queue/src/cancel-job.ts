/**
 * Canceling a render job (docs/api.md: "a waiting job at once, a running one at its next
 * denoising step; both end `canceled`").
 *
 * - Waiting (wait list, prioritized or delayed for a retry's backoff): one Lua script takes the
 *   job out of BullMQ's waiting structures and puts it in the `failed` set with a `canceled`
 *   failure, the way BullMQ's own moveToFinished script records a failure (failedReason,
 *   finishedOn, a `failed` event on the queue's event stream, so `waitUntilFinished` callers
 *   wake). BullMQ has no public call for this: `job.remove()` would lose the record, and
 *   `job.moveToFailed` needs the lock of an active job. The script is atomic with a worker's
 *   moveToActive: either the job is still waiting and is canceled here, or a worker has it.
 * - Running: a marker key (checked by the worker before it starts a job, so a cancel that races
 *   with a job being picked up is not lost) and a pub/sub message to every worker; the worker
 *   running the job aborts its AbortSignal (BullMQ's `worker.cancelJob`), the inference thread
 *   stops between two denoising steps and the job fails, unrecoverably, as `canceled`.
 */
import type { RedisClient } from './connection.js';
import { CANCELED, encodeFailure } from '@kiln/contracts';
import { LuaScript } from './lua-script.js';
import type { RenderQueue } from './render-queue.js';

/** The cancel marker and the cancel channel, under the queue's prefix. */
export function cancelKeys(prefix: string) {
  return {
    /** Marker that a job was asked to stop; checked by a worker before it starts a job. */
    marker: (jobId: string) => `${prefix}:kiln:cancel:${jobId}`,
    /** Pub/sub channel on which the API tells workers to stop a running job. */
    channel: `${prefix}:kiln:cancel-requests`,
  };
}

/** The failure every canceled job carries in its failedReason. */
export const CANCELED_FAILURE = encodeFailure(CANCELED);

/** How long a cancel marker lives: longer than any render. */
const CANCEL_MARKER_TTL_S = 7 * 24 * 3600;

/**
 * KEYS: wait, paused, prioritized, delayed, failed, job hash, events stream.
 * ARGV: job id, timestamp (ms), failedReason. Returns 1 when canceled, 0 when not waiting.
 */
const CANCEL_WAITING = new LuaScript(`
if redis.call('EXISTS', KEYS[6]) == 0 then return -1 end
local removed = redis.call('LREM', KEYS[1], 0, ARGV[1]) + redis.call('LREM', KEYS[2], 0, ARGV[1])
  + redis.call('ZREM', KEYS[3], ARGV[1]) + redis.call('ZREM', KEYS[4], ARGV[1])
if removed == 0 then return 0 end
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[6], 'failedReason', ARGV[3], 'finishedOn', ARGV[2])
redis.call('XADD', KEYS[7], '*', 'event', 'failed', 'jobId', ARGV[1], 'failedReason', ARGV[3], 'prev', 'waiting')
return 1
`);

export type CancelOutcome =
  /** It was waiting and is now canceled. */
  | 'canceled'
  /** It is running (or being picked up): the worker stops it at its next denoising step. */
  | 'requested'
  /** It has already ended (completed, failed or canceled). */
  | 'finished'
  /** No such job. */
  | 'missing';

/**
 * Cancels a job: a waiting one at once, a running one by asking its worker. The marker is set
 * first, so a worker that takes the job between the two steps still sees it.
 */
export async function cancelRenderJob(redis: RedisClient, queue: RenderQueue, jobId: string): Promise<CancelOutcome> {
  const keys = cancelKeys(queue.opts.prefix ?? 'bull');
  const job = await queue.getJob(jobId);
  if (!job) return 'missing';
  if (job.finishedOn) return 'finished';
  await redis.set(keys.marker(jobId), '1', 'EX', CANCEL_MARKER_TTL_S);
  const result = (await CANCEL_WAITING.run(
    redis,
    [
      queue.toKey('wait'),
      queue.toKey('paused'),
      queue.toKey('prioritized'),
      queue.toKey('delayed'),
      queue.toKey('failed'),
      queue.toKey(jobId),
      queue.toKey('events'),
    ],
    [jobId, Date.now(), CANCELED_FAILURE],
  )) as number;
  if (result === -1) return 'missing';
  // It never reached a worker: the caller records its end (usage, webhooks, batch counts).
  if (result === 1) return 'canceled';
  const state = await queue.getJobState(jobId);
  if (state === 'completed' || state === 'failed') return 'finished';
  await redis.publish(keys.channel, jobId);
  return 'requested';
}

/** Whether someone asked to cancel this job (the worker checks before it starts it). */
export async function isCancelRequested(redis: RedisClient, prefix: string, jobId: string): Promise<boolean> {
  return (await redis.exists(cancelKeys(prefix).marker(jobId))) === 1;
}
