/**
 * Withdrawing a job whose submission the client was told failed. When Redis goes away while the
 * API's submission transaction is in flight, the API cannot know whether Redis ran it: Redis may
 * have applied it (and written it to its append-only file) just before it died, without the reply
 * reaching the API. The client got a 503, so such a job must not render, be billed or be listed.
 * The API keeps the ids of those jobs and, once Redis answers again, withdraws each one here:
 *
 * - still waiting (the usual case: workers reconnect too): the job is taken out of BullMQ's
 *   waiting structures and deleted, as if it had never been written;
 * - already taken by a worker (it reconnected first): the cancel marker is set (the caller then
 *   publishes the cancel request) and the job ends `canceled` at its next denoising step;
 * - already finished: nothing can be undone; it is only unlisted (the caller logs it).
 *
 * In every case the job leaves the tenant's listings and its `max_queued_jobs` slot, and its usage
 * guard is set (usage-ledger.ts), so a job that still ends is never billed. All of it is one
 * script, atomic with a worker's move to active: either the job is still waiting and is deleted,
 * or a worker has it and is told to stop.
 */
import type { RedisClient, RenderQueue } from '@kiln/queue';
import { LuaScript, cancelKeys } from '@kiln/queue';
import { moveBacklog } from './backlog.js';
import { stateKeys } from './state-keys.js';

/** How long the cancel marker and the usage guard of a withdrawn job live: longer than any render or retry. */
const WITHDRAWN_MARKER_TTL_S = 30 * 24 * 3600;

/**
 * KEYS: job hash, wait, paused, prioritized, delayed, job logs, tenant index, batch index (the
 * tenant index again when none), open-jobs set, cancel marker, usage guard. ARGV: job id, marker TTL (s).
 * Returns 0 when no such job, 1 when withdrawn while waiting, 2 when a worker has it, 3 when it has finished.
 */
const WITHDRAW = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('ZREM', KEYS[9], ARGV[1])
if redis.call('HEXISTS', KEYS[1], 'finishedOn') == 1 then return 3 end
redis.call('SET', KEYS[10], '1', 'EX', ARGV[2])
redis.call('SET', KEYS[11], '1', 'EX', ARGV[2])
local removed = redis.call('LREM', KEYS[2], 0, ARGV[1]) + redis.call('LREM', KEYS[3], 0, ARGV[1])
  + redis.call('ZREM', KEYS[4], ARGV[1]) + redis.call('ZREM', KEYS[5], ARGV[1])
if removed == 0 then return 2 end
redis.call('DEL', KEYS[1], KEYS[6])
return 1
`);

export type WithdrawOutcome =
  /** Redis never ran the submission: nothing to do. */
  | 'absent'
  /** It was waiting and is gone. */
  | 'withdrawn'
  /** A worker had taken it: it is asked to stop and will not be billed. */
  | 'canceling'
  /** It had already finished before it could be withdrawn. */
  | 'finished';

const OUTCOMES: readonly WithdrawOutcome[] = ['absent', 'withdrawn', 'canceling', 'finished'];

export interface RefusedJob {
  jobId: string;
  tenant: string;
  keyId: string;
  batchId?: string;
}

/** Withdraws one refused job (see the module comment); publishes the cancel request when a worker has it. */
export async function withdrawRefusedJob(
  redis: RedisClient,
  queue: RenderQueue,
  job: RefusedJob,
): Promise<WithdrawOutcome> {
  const prefix = queue.opts.prefix ?? 'bull';
  const keys = stateKeys(prefix);
  const cancel = cancelKeys(prefix);
  const tenantIndex = keys.tenantJobs(job.tenant);
  const result = (await WITHDRAW.run(
    redis,
    [
      queue.toKey(job.jobId),
      queue.toKey('wait'),
      queue.toKey('paused'),
      queue.toKey('prioritized'),
      queue.toKey('delayed'),
      `${queue.toKey(job.jobId)}:logs`,
      tenantIndex,
      job.batchId ? keys.batchJobs(job.tenant, job.batchId) : tenantIndex,
      keys.openJobs(job.keyId),
      cancel.marker(job.jobId),
      keys.usageRecorded(job.jobId),
    ],
    [job.jobId, WITHDRAWN_MARKER_TTL_S],
  )) as number;
  const outcome = OUTCOMES[result] ?? 'absent';
  if (outcome === 'canceling') await redis.publish(cancel.channel, job.jobId);
  // A deleted job never ends, so the lifecycle will not take it out of the backlog: done here.
  if (outcome === 'withdrawn') await moveBacklog(redis, prefix, 'gone', [{ jobId: job.jobId }]);
  return outcome;
}
