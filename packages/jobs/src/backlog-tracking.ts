/**
 * Where render jobs enter the backlog (@kiln/state backlog.ts): every `add` and `addBulk` on the
 * render queue that `createJobServices` builds, whichever route queues them (generate, async,
 * batches). The entry is written before the job is queued, so a worker that takes the job at once
 * always finds it to remove; when queueing fails the entry is withdrawn. The job lifecycle moves
 * jobs on from there (started → active, retrying → delayed, ended → gone).
 */
import type { Logger } from '@kiln/config';
import { renderJobSchema, type RenderJobData } from '@kiln/contracts';
import type { RenderQueue } from '@kiln/queue';
import { jobWork, moveBacklog, type BacklogMove } from '@kiln/state';
import type { JobsOptions } from 'bullmq';
import type { RedisClient } from '@kiln/queue';

type Entry = { data: RenderJobData; opts?: JobsOptions };

export function trackBacklog(queue: RenderQueue, redis: RedisClient, prefix: string, logger: Logger): RenderQueue {
  const add = queue.add.bind(queue);
  const addBulk = queue.addBulk.bind(queue);
  const moves = (entries: readonly Entry[], delayed: boolean): BacklogMove[] =>
    entries.flatMap(({ data, opts }) =>
      // A payload that is not a render job is never rendered (the worker fails it at once), so it
      // is no work to wait for; and pricing it must not refuse the queueing.
      opts?.jobId && Boolean(opts.delay) === delayed && renderJobSchema.safeParse(data).success
        ? [{ jobId: opts.jobId, work: jobWork(data, opts.priority) }]
        : [],
    );
  // The backlog is a signal: a Redis error writing it is logged, never a refused submission.
  const track = async (state: 'queued' | 'delayed' | 'gone', list: BacklogMove[]) => {
    await moveBacklog(redis, prefix, state, list).catch((err: Error) =>
      logger.warn({ err: err.message, jobs: list.length }, 'backlog not updated'),
    );
  };
  const around = async <T>(entries: readonly Entry[], queueing: () => Promise<T>): Promise<T> => {
    // a job added with a delay waits in BullMQ's delayed set until then
    const [now, later] = [moves(entries, false), moves(entries, true)];
    await track('queued', now);
    await track('delayed', later);
    try {
      return await queueing();
    } catch (err) {
      await track('gone', [...now, ...later]);
      throw err;
    }
  };

  queue.add = (name, data, opts) => around([{ data, opts }], () => add(name, data, opts));
  queue.addBulk = (jobs) => around(jobs, () => addBulk(jobs));
  return queue;
}
