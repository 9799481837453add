/**
 * The render backlog, kept incrementally: the autoscaling signal (docs/operations.md).
 *
 * Every render job is tracked from the moment it is queued until it ends, with its family, lane
 * and work units (work-units.ts) and one state: `queued` (waiting or prioritized: the lane says
 * which, as interactive jobs carry no BullMQ priority), `delayed` (a retry waiting out its
 * backoff) or `active`. A move is one Lua script that adjusts per-(family, lane) counters and the
 * job's own entry together, and is idempotent (moving a job to the state it is in changes
 * nothing), so a replayed event cannot count twice. A scrape reads one small hash: it never
 * scans the queue, however long the queue is.
 *
 * Units are kept as integer micro-units so that adding and removing the same jobs returns the sum
 * to exactly zero (floating-point increments would drift).
 */
import type { RenderJobData } from '@kiln/contracts';
import { LuaScript } from '@kiln/queue';
import type { RedisClient } from '@kiln/queue';
import type { ChainableCommander } from 'ioredis';
import { stateKeys } from './state-keys.js';
import { jobWork, LANES, type JobWork, type Lane } from './work-units.js';

export type BacklogState = 'queued' | 'delayed' | 'active';
type Move = BacklogState | 'gone';

const MICRO = 1e6;

/**
 * KEYS: counters, jobs. ARGV: state, then per job: id, family, lane, micro-units (family empty when
 * unknown). A job already tracked keeps its family, lane and units. Returns how many jobs moved.
 */
const MOVE = new LuaScript(`
local counters, jobs = KEYS[1], KEYS[2]
local state = ARGV[1]
local moved = 0
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  local entry = redis.call('HGET', jobs, id)
  local family, lane, units, old
  if entry then
    family, lane, units, old = string.match(entry, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  else
    family, lane, units = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  end
  local known = entry or (family ~= '' and state ~= 'gone')
  if known and old ~= state then
    local base = family .. '|' .. lane .. '|'
    if old then
      redis.call('HINCRBY', counters, base .. old, -1)
      if old ~= 'active' then redis.call('HINCRBY', counters, base .. 'units', -tonumber(units)) end
    end
    if state == 'gone' then
      redis.call('HDEL', jobs, id)
    else
      redis.call('HINCRBY', counters, base .. state, 1)
      if state ~= 'active' then redis.call('HINCRBY', counters, base .. 'units', tonumber(units)) end
      redis.call('HSET', jobs, id, base .. units .. '|' .. state)
    end
    moved = moved + 1
  end
end
return moved
`);

export interface BacklogMove {
  jobId: string;
  /** The job's cost; needed when the job may not be tracked yet (queued now, or from before tracking). */
  work?: JobWork;
}

/** Moves jobs to `state` (`gone`: no longer tracked). Returns how many changed state. */
export async function moveBacklog(
  redis: RedisClient,
  prefix: string,
  state: Move,
  jobs: readonly BacklogMove[],
): Promise<number> {
  if (jobs.length === 0) return 0;
  const keys = stateKeys(prefix);
  return (await MOVE.run(redis, [keys.backlog, keys.backlogJobs], [state, ...moveArgs(jobs)])) as number;
}

function moveArgs(jobs: readonly BacklogMove[]): (string | number)[] {
  return jobs.flatMap(({ jobId, work }) =>
    work ? [jobId, work.family, work.lane, Math.round(work.units * MICRO)] : [jobId, '', '', 0],
  );
}

/** A job being added to the queue, as BullMQ takes it. */
export interface NewQueueJob {
  data: RenderJobData;
  opts?: { jobId?: string; priority?: number; delay?: number };
}

/**
 * Queues, on the transaction that adds `jobs` to the render queue, their entry in the backlog:
 * the job and its backlog entry become visible together or not at all. A job added with a delay
 * is `delayed`, any other `queued`.
 */
export function queueBacklog(multi: ChainableCommander, prefix: string, jobs: readonly NewQueueJob[]): void {
  const keys = stateKeys(prefix);
  for (const delayed of [false, true]) {
    const moves = jobs.flatMap(({ data, opts }) =>
      opts?.jobId && Boolean(opts.delay) === delayed ? [{ jobId: opts.jobId, work: jobWork(data, opts.priority) }] : [],
    );
    if (moves.length === 0) continue;
    // EVAL, not EVALSHA: inside MULTI a missing script would fail the command, not fall back.
    multi.eval(MOVE.lua, 2, keys.backlog, keys.backlogJobs, delayed ? 'delayed' : 'queued', ...moveArgs(moves));
  }
}

/** One family and lane of the backlog. */
export interface BacklogRow {
  family: string;
  lane: Lane;
  /** Interactive jobs waiting (BullMQ's wait list). */
  waiting: number;
  /** Async and batch jobs waiting (BullMQ's prioritized set). */
  prioritized: number;
  /** Retries waiting out their backoff. */
  delayed: number;
  active: number;
  /** Work units of the waiting, prioritized and delayed jobs. */
  units: number;
}

/** The backlog by family and lane; every lane of every family in `families` is present, zeros included. */
export async function readBacklog(
  redis: RedisClient,
  prefix: string,
  families: readonly string[],
): Promise<BacklogRow[]> {
  const hash = await redis.hgetall(stateKeys(prefix).backlog);
  const seen = new Set(Object.keys(hash).map((field) => field.split('|')[0]));
  const rows: BacklogRow[] = [];
  for (const family of [...new Set([...families, ...seen])]) {
    for (const lane of LANES) {
      const n = (state: string) => Number(hash[`${family}|${lane}|${state}`] ?? 0);
      const queued = n('queued');
      rows.push({
        family,
        lane,
        waiting: lane === 'interactive' ? queued : 0,
        prioritized: lane === 'interactive' ? 0 : queued,
        delayed: n('delayed'),
        active: n('active'),
        units: n('units') / MICRO,
      });
    }
  }
  return rows;
}

/**
 * Drops the entries of jobs that ended or no longer exist without their end reaching the backlog
 * (a process killed between two writes). `jobKey` maps a job id to its BullMQ hash. Reads each
 * tracked job's hash, in pages: run it seldom (the worker does, every few minutes).
 */
export async function repairBacklog(
  redis: RedisClient,
  prefix: string,
  jobKey: (jobId: string) => string,
): Promise<number> {
  const jobsKey = stateKeys(prefix).backlogJobs;
  let cursor = '0';
  let removed = 0;
  do {
    const [next, flat] = await redis.hscan(jobsKey, cursor, 'COUNT', 500);
    cursor = next;
    const ids = flat.filter((_, i) => i % 2 === 0);
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(jobKey(id), 'timestamp', 'finishedOn');
    const results = (await pipeline.exec()) ?? [];
    const ended = ids.filter((_, i) => {
      const [created, finished] = (results[i]?.[1] as (string | null)[] | undefined) ?? [null, null];
      return created === null || finished !== null;
    });
    removed += await moveBacklog(
      redis,
      prefix,
      'gone',
      ended.map((jobId) => ({ jobId })),
    );
  } while (cursor !== '0');
  return removed;
}
