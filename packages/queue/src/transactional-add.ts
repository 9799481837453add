/**
 * Render jobs added in one MULTI together with whatever bookkeeping the caller queues on the same
 * transaction (the tenant's job index, …): all or nothing, so a job never becomes visible to a
 * worker without its bookkeeping, nor the bookkeeping without its job.
 *
 * BullMQ's `queue.add` runs its add script on its own; `addBulk` pipelines several without a
 * transaction. BullMQ's Redis backend exposes `addJobToTransaction` (public, outside its backend
 * interface, "so that flow producers can batch inserts across queues onto a shared transaction"),
 * which queues the very same add script on a MULTI; the job is built exactly as `queue.add` builds
 * it (the queue's default job options under the caller's). On a Redis Cluster every key involved
 * must hash to one slot: the queue prefix is a hash tag there (state-keys.ts).
 *
 * Submissions that arrive together share one round trip: calls made in the same turn of the event
 * loop (sixteen clients' requests read in one poll, say) are queued on one MULTI and sent once, and
 * while one MULTI is in flight the calls that arrive wait for it and go together in the next. On
 * this 2-core machine a round trip's fixed cost (building ioredis's pipeline, which copies BullMQ's
 * ~50 script commands, and the socket write and read) was most of what the API spent on a
 * submission; docs/benchmarks.md, item 4. Each call keeps its own outcome: its commands' errors
 * reject it alone (Redis runs every command of a MULTI, and never rolled one call's commands back
 * on another's error before either); a connection error rejects every call of that round trip.
 */
import { Job, type JobsOptions } from 'bullmq';
import type { ChainableCommander } from 'ioredis';
import type { RenderJobData } from '@kiln/contracts';
import type { RenderQueue } from './render-queue.js';

export interface QueuedJobEntry {
  name: string;
  data: RenderJobData;
  /** `jobId` is required: the caller's bookkeeping refers to it. */
  opts: JobsOptions & { jobId: string };
}

/** `validateOptions` is protected on Job: a subclass may call it, as `Job.create` does. */
class CheckedJob extends Job<RenderJobData> {
  /** The job as BullMQ stores it, once its options are valid (the JSON is built once: it holds the whole request). */
  checkedJson(): ReturnType<Job['asJSON']> {
    const json = this.asJSON();
    this.validateOptions(json);
    return json;
  }
}

/** One caller's jobs and bookkeeping, waiting for the next round trip. */
interface Submission {
  jobs: { json: ReturnType<Job['asJSON']>; jobId: string }[];
  bookkeeping: (multi: ChainableCommander) => void;
  resolve(): void;
  reject(err: unknown): void;
}

/** ioredis's MULTI: `length` counts the commands queued, MULTI itself included. */
type Multi = ChainableCommander & { length: number };

/** A MULTI holds at most this many calls; more wait for the next round trip. */
const MAX_SUBMISSIONS_PER_TRANSACTION = 64;

class SubmissionTransactions {
  private pending: Submission[] = [];
  private scheduled = false;
  private sending = false;

  constructor(private readonly queue: RenderQueue) {}

  add(entries: readonly QueuedJobEntry[], bookkeeping: Submission['bookkeeping']): Promise<void> {
    // Built and checked now, so a bad option rejects this call before anything is queued.
    const jobs = entries.map((entry) => {
      const opts = Object.assign({}, this.queue.jobsOpts, entry.opts); // not a spread (CONTRIBUTING.md, Performance)
      const job = new CheckedJob(this.queue as never, entry.name, entry.data, opts, entry.opts.jobId);
      return { json: job.checkedJson(), jobId: entry.opts.jobId };
    });
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ jobs, bookkeeping, resolve, reject });
      if (!this.scheduled && !this.sending) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.sending || this.pending.length === 0) return;
    this.sending = true;
    void this.send(this.pending.splice(0, MAX_SUBMISSIONS_PER_TRANSACTION)).finally(() => {
      this.sending = false;
      this.flush();
    });
  }

  private async send(submissions: Submission[]): Promise<void> {
    if (submissions.length === 0) return;
    let multi: Multi;
    const spans: { submission: Submission; first: number; end: number }[] = [];
    try {
      multi = (await this.queue.backend.client).multi() as unknown as Multi;
    } catch (err) {
      for (const { reject } of submissions) reject(err);
      return;
    }
    for (const submission of submissions) {
      // Results leave out MULTI itself: a command queued at `length` answers at `length - 1`.
      const first = multi.length - 1;
      try {
        // Queues the add script on `multi` synchronously; the returned promise settles at once.
        await Promise.all(
          submission.jobs.map((job) => this.queue.backend.addJobToTransaction(multi as never, job.json, job.jobId)),
        );
        submission.bookkeeping(multi);
      } catch (err) {
        // Its commands may be half queued: nothing has been sent yet (a MULTI goes out on exec),
        // so this one is dropped and the others go in a fresh one.
        submission.reject(err);
        return this.send(submissions.filter((other) => other !== submission));
      }
      spans.push({ submission, first, end: multi.length - 1 });
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await multi.exec();
    } catch (err) {
      for (const { reject } of submissions) reject(err);
      return;
    }
    for (const { submission, first, end } of spans) {
      const failure = results
        ? firstFailure(results.slice(first, end))
        : new Error('Redis discarded the submission transaction');
      if (failure) submission.reject(failure);
      else submission.resolve();
    }
  }
}

/** The first command error of a call's results, BullMQ's negative codes included. */
function firstFailure(results: [Error | null, unknown][]): Error | undefined {
  for (const [err, value] of results) {
    if (err) return err;
    if (typeof value === 'number' && value < 0) return new Error(`BullMQ refused the job (code ${value})`);
  }
  return undefined;
}

const transactions = new WeakMap<RenderQueue, SubmissionTransactions>();

/**
 * Adds `entries` to `queue` and runs the commands `bookkeeping` queues on the same MULTI, in one
 * EXEC shared with the other calls of this turn of the event loop. Throws the first error of its
 * own commands (BullMQ's negative codes included); a connection error leaves it unknown whether
 * the EXEC ran, which is the caller's to handle.
 */
export function addJobsWithBookkeeping(
  queue: RenderQueue,
  entries: readonly QueuedJobEntry[],
  bookkeeping: (multi: ChainableCommander) => void,
): Promise<void> {
  let shared = transactions.get(queue);
  if (!shared) transactions.set(queue, (shared = new SubmissionTransactions(queue)));
  try {
    return shared.add(entries, bookkeeping);
  } catch (err) {
    return Promise.reject(err);
  }
}
