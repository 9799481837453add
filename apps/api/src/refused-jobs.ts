/**
 * Jobs the API refused on a Redis error after it had sent their submission transaction: Redis may
 * have run it (and kept it in its append-only file) just before it went away, though the client
 * was answered 503. Their ids are kept here, in this process, and withdrawn (@kiln/state
 * job-withdrawal.ts) as soon as the connection is ready again, so a refused submission never
 * renders, is never billed and is never listed. docs/reliability.md describes the guarantee and
 * its limits (the ids live in this process only).
 */
import type { Logger } from '@kiln/config';
import type { RedisClient, RenderQueue } from '@kiln/queue';
import { withdrawRefusedJob, type RefusedJob, type WithdrawOutcome } from '@kiln/state';

/** Attempts per job before it is given up on (Redis keeps failing while it comes back). */
const MAX_TRIES = 20;
/** Pause before retrying a pass that failed while the connection stayed open (a command timeout). */
const RETRY_MS = 1000;

/** What the log says of each withdrawal that found the job in Redis (the client had been told 503). */
const WITHDRAWN_MESSAGES: Record<Exclude<WithdrawOutcome, 'absent'>, string> = {
  withdrawn: 'a refused submission had reached Redis: withdrawn before any worker took it',
  canceling: 'a refused submission had reached a worker: canceled, not billed',
  finished: 'a refused submission had already rendered before it could be withdrawn; unlisted',
};

export class RefusedJobs {
  private readonly pending = new Map<string, { job: RefusedJob; tries: number }>();
  private running: Promise<void> | undefined;
  /** Every outcome so far, by kind: what the logs and tests read. */
  readonly outcomes: Record<WithdrawOutcome | 'gave_up', number> = {
    absent: 0,
    withdrawn: 0,
    canceling: 0,
    finished: 0,
    gave_up: 0,
  };

  constructor(
    private readonly redis: RedisClient,
    private readonly queue: RenderQueue,
    private readonly logger: Pick<Logger, 'warn' | 'error'>,
  ) {
    redis.on('ready', () => void this.withdrawAll());
  }

  get size(): number {
    return this.pending.size;
  }

  /** Remembers jobs whose submission may have reached Redis; withdrawn at once if Redis still answers. */
  remember(jobs: readonly RefusedJob[]): void {
    for (const job of jobs) this.pending.set(job.jobId, { job, tries: 0 });
    if (this.redis.status === 'ready') void this.withdrawAll();
  }

  /** Withdraws every remembered job; one pass at a time. Resolves when this pass is done. */
  withdrawAll(): Promise<void> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    for (const [jobId, entry] of [...this.pending]) {
      let outcome: WithdrawOutcome;
      try {
        outcome = await withdrawRefusedJob(this.redis, this.queue, entry.job);
      } catch (err) {
        if (++entry.tries >= MAX_TRIES) {
          this.pending.delete(jobId);
          this.outcomes.gave_up++;
          this.logger.error({ jobId, err: (err as Error).message }, 'could not withdraw a refused submission');
        }
        // Redis went away again (the next 'ready' retries) or timed out on an open connection (retry shortly).
        setTimeout(() => {
          if (this.redis.status === 'ready') void this.withdrawAll();
        }, RETRY_MS).unref();
        return;
      }
      this.pending.delete(jobId);
      this.outcomes[outcome]++;
      if (outcome !== 'absent') this.logger.warn({ jobId, outcome }, WITHDRAWN_MESSAGES[outcome]);
    }
  }
}

const trackers = new WeakMap<object, RefusedJobs>();

/** The one tracker of an API connection (created on first use, listening for reconnects). */
export function refusedJobsOf(redis: RedisClient, queue: RenderQueue, logger: Pick<Logger, 'warn' | 'error'>) {
  let tracker = trackers.get(redis);
  if (!tracker) trackers.set(redis, (tracker = new RefusedJobs(redis, queue, logger)));
  return tracker;
}
