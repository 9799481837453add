/**
 * The backlog moves the job lifecycle cannot see (@kiln/state backlog.ts):
 *
 * - a job handed back by BullMQ's stalled check (its worker died) waits again: `stalled` → queued;
 * - now and then, entries of jobs that ended without their end reaching the backlog (a process
 *   killed between two writes) are dropped, so the autoscaling signal cannot drift upward.
 */
import type { KilnConfig, Logger } from '@kiln/config';
import type { RedisClient } from '@kiln/queue';
import { moveBacklog, repairBacklog } from '@kiln/state';
import type { Worker } from 'bullmq';

/** How often the repair pass runs (it reads one small hash per tracked job). */
const REPAIR_EVERY_MS = 5 * 60_000;

export function startBacklogUpkeep(
  worker: Worker,
  redis: RedisClient,
  { config, logger }: { config: Readonly<KilnConfig>; logger: Logger },
): () => Promise<void> {
  const prefix = config.queuePrefix;
  const onStalled = (jobId: string) => {
    moveBacklog(redis, prefix, 'queued', [{ jobId }]).catch((err: Error) =>
      logger.warn({ jobId, err: err.message }, 'backlog not updated'),
    );
  };
  worker.on('stalled', onStalled);
  let pass: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    pass = repairBacklog(redis, prefix, (jobId) => worker.toKey(jobId))
      .then((removed) => removed && logger.info({ removed }, 'backlog: dropped entries of jobs that ended unseen'))
      .catch((err: Error) => logger.warn({ err: err.message }, 'backlog repair failed'));
  }, REPAIR_EVERY_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    worker.off('stalled', onStalled);
    await pass;
  };
}
