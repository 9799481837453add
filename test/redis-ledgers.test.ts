/**
 * The Redis scripts behind usage, rate limits, idempotency, admission and cancellation, on a real
 * Redis with a prefix of their own: the atomicity each of them promises.
 */
import { randomBytes } from 'node:crypto';
import { redisKeyPrefix } from '@kiln/config';
import {
  cancelKeys,
  cancelRenderJob,
  createRedis,
  createRenderQueue,
  createRenderQueueEvents,
  deleteKeysMatching,
} from '@kiln/queue';
import {
  IdempotencyConflictError,
  recordAttemptTime,
  recordJobUsage,
  readUsage,
  releaseOpenJobs,
  reserveOpenJobs,
  runIdempotent,
  stateKeys,
  takeRateLimit,
  utcDay,
  type JobUsage,
} from '@kiln/state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sd15Job } from './job-fixtures.js';

// The run's Redis: 127.0.0.1:6379, or the cluster of `npm run test:cluster` (where the prefix is a hash tag).
const prefix = redisKeyPrefix(`kiln-test-${randomBytes(4).toString('hex')}`, process.env.REDIS_URL);
const redis = createRedis(process.env.REDIS_URL);
const queue = createRenderQueue(redis, { prefix, attempts: 3, retentionMs: 3600_000 });

afterAll(async () => {
  await queue.close();
  await deleteKeysMatching(redis, `${prefix}:*`);
  redis.disconnect();
});

const usage = (jobId: string, extra: Partial<JobUsage> = {}): JobUsage => ({
  tenant: 'acme',
  keyId: 'k1',
  jobId,
  outcome: 'completed',
  images: 2,
  stepsPerImage: 10,
  width: 512,
  height: 512,
  ...extra,
});

describe('usage ledger', () => {
  it('counts a job once however many times, and however concurrently, its end is reported', async () => {
    await recordAttemptTime(redis, prefix, 'job-a', 1000);
    const results = await Promise.all(Array.from({ length: 10 }, () => recordJobUsage(redis, prefix, usage('job-a'))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await recordJobUsage(redis, prefix, usage('job-a', { outcome: 'failed', images: 0 }))).toBe(false);
    const [row] = await readUsage(redis, prefix, 'acme', { from: utcDay(Date.now()), to: utcDay(Date.now()) });
    expect(row).toMatchObject({
      key_id: 'k1',
      jobs: 1,
      jobs_completed: 1,
      jobs_failed: 0,
      images: 2,
      steps: 20,
      worker_seconds: 1,
    });
    expect(row!.megapixel_steps).toBeCloseTo(0.262144 * 20, 6);
  });

  it("adds the worker time of every attempt to the job's record when it ends", async () => {
    await recordAttemptTime(redis, prefix, 'job-b', 300);
    await recordAttemptTime(redis, prefix, 'job-b', 200);
    await recordAttemptTime(redis, prefix, 'job-b', 500);
    await recordJobUsage(redis, prefix, usage('job-b', { keyId: 'k2' }));
    const rows = await readUsage(redis, prefix, 'acme', {
      from: utcDay(Date.now()),
      to: utcDay(Date.now()),
      keyIds: ['k2'],
    });
    expect(rows).toEqual([expect.objectContaining({ key_id: 'k2', jobs: 1, worker_seconds: 1 })]);
    expect(await redis.exists(stateKeys(prefix).usageAttempts('job-b'))).toBe(0);
  });

  it("files usage under the day the job ended, and gives the job's queue slot back", async () => {
    await redis.zadd(stateKeys(prefix).openJobs('k3'), Date.now(), 'job-c');
    await recordJobUsage(redis, prefix, usage('job-c', { keyId: 'k3', endedAt: Date.parse('2024-03-01T23:59:59Z') }));
    expect(
      await readUsage(redis, prefix, 'acme', { from: '2024-03-01', to: '2024-03-01', keyIds: ['k3'] }),
    ).toHaveLength(1);
    expect(
      await readUsage(redis, prefix, 'acme', { from: '2024-03-02', to: '2024-03-02', keyIds: ['k3'] }),
    ).toHaveLength(0);
    expect(await redis.zcard(stateKeys(prefix).openJobs('k3'))).toBe(0);
  });
});

describe('rate limit (GCRA)', () => {
  it('allows a burst of `limit`, then one request per period/limit, with an exact retry time', async () => {
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await takeRateLimit(redis, prefix, 'rl-a', 5, 1000));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.slice(0, 5).map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0]);
    const refused = decisions[5]!;
    expect(refused.retryAfterMs).toBeGreaterThan(150);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(200);
    await new Promise((resolve) => setTimeout(resolve, refused.retryAfterMs + 10));
    expect((await takeRateLimit(redis, prefix, 'rl-a', 5, 1000)).allowed).toBe(true);
    expect((await takeRateLimit(redis, prefix, 'rl-a', 5, 1000)).allowed).toBe(false);
  });

  it('never lets more than `limit` through at once under concurrency', async () => {
    const decisions = await Promise.all(
      Array.from({ length: 50 }, () => takeRateLimit(redis, prefix, 'rl-b', 10, 60_000)),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
  });
});

describe('idempotency', () => {
  const options = (key: string, fingerprint: string) => ({ redis, prefix, tenant: 'acme', key, fingerprint });

  it('runs create once for 20 concurrent callers, and all of them get its id', async () => {
    let calls = 0;
    const create = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 100));
      return `created-${calls}`;
    };
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => runIdempotent(options('i-1', 'fp'), create)));
    expect(calls).toBe(1);
    expect(new Set(outcomes.map((o) => o.id))).toEqual(new Set(['created-1']));
    expect(outcomes.filter((o) => !o.replayed)).toHaveLength(1);
  });

  it('answers a conflict for another fingerprint, also while the first request is still creating', async () => {
    let release!: () => void;
    const slow = runIdempotent(
      options('i-2', 'fp-a'),
      () => new Promise<string>((resolve) => (release = () => resolve('x'))),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(runIdempotent(options('i-2', 'fp-b'), async () => 'y')).rejects.toMatchObject({ reason: 'mismatch' });
    release();
    expect(await slow).toEqual({ id: 'x', replayed: false });
    await expect(runIdempotent(options('i-2', 'fp-b'), async () => 'y')).rejects.toBeInstanceOf(
      IdempotencyConflictError,
    );
  });

  it('releases the key when create fails, and a waiting caller takes over', async () => {
    let calls = 0;
    const create = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (calls === 1) throw new Error('queue full');
      return 'second-try';
    };
    const [first, second] = await Promise.allSettled([
      runIdempotent(options('i-3', 'fp'), create),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        return runIdempotent(options('i-3', 'fp'), create);
      })(),
    ]);
    expect(first.status).toBe('rejected');
    expect(second).toEqual({ status: 'fulfilled', value: { id: 'second-try', replayed: false } });
  });
});

describe('open jobs (max_queued_jobs)', () => {
  it('admits at most the limit under concurrency, all-or-nothing per request', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => reserveOpenJobs(redis, queue, 'q1', 5, [`j${i}`])),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(await reserveOpenJobs(redis, queue, 'q2', 3, ['a', 'b', 'c', 'd'])).toEqual({ ok: false, open: 0 });
    expect(await redis.zcard(stateKeys(prefix).openJobs('q2'))).toBe(0);
    await releaseOpenJobs(redis, prefix, 'q1', ['j0', 'j1']);
    expect(await redis.zcard(stateKeys(prefix).openJobs('q1'))).toBe(3);
  });

  it('reclaims slots of jobs that ended without giving theirs back', async () => {
    await queue.add('sd15', sd15Job(), { jobId: 'stale-1' });
    await reserveOpenJobs(redis, queue, 'q3', 1, ['stale-1']);
    expect((await reserveOpenJobs(redis, queue, 'q3', 1, ['next'])).ok).toBe(false);
    await cancelRenderJob(redis, queue, 'stale-1'); // ends it without touching q3's slots
    expect((await reserveOpenJobs(redis, queue, 'q3', 1, ['next'])).ok).toBe(true);
  });
});

describe('cancelRenderJob', () => {
  const eventsConnection = createRedis(process.env.REDIS_URL);
  const events = createRenderQueueEvents(eventsConnection, prefix);
  beforeAll(() => events.waitUntilReady());
  afterAll(async () => {
    await events.close();
    eventsConnection.disconnect();
  });
  const data = sd15Job({}, { tenant: 'acme' });

  it.each([
    ['waiting', {}],
    ['prioritized', { priority: 5 }],
    ['delayed', { delay: 60_000 }],
  ])('fails a %s job as canceled at once, waking whoever waits for it', async (state, opts) => {
    const job = await queue.add('sd15', data, { jobId: `c-${state}`, ...opts });
    expect(await job.getState()).toBe(state);
    const finished = job.waitUntilFinished(events).then(
      () => 'completed',
      (err: Error) => err.message,
    );
    expect(await cancelRenderJob(redis, queue, job.id!)).toBe('canceled');
    expect(await queue.getJobState(job.id!)).toBe('failed');
    expect(JSON.parse(await finished)).toMatchObject({ code: 'canceled' });
    const reread = await queue.getJob(job.id!);
    expect(JSON.parse(reread!.failedReason)).toMatchObject({ code: 'canceled' });
    expect(reread!.finishedOn).toBeGreaterThan(0);
    expect(await cancelRenderJob(redis, queue, job.id!)).toBe('finished');
    expect(await redis.exists(cancelKeys(prefix).marker(job.id!))).toBe(1);
  });

  it('asks the workers to stop an active job, and reports a missing one', async () => {
    const subscriber = createRedis(process.env.REDIS_URL);
    const received: string[] = [];
    subscriber.on('message', (_channel, message) => received.push(message));
    await subscriber.subscribe(cancelKeys(prefix).channel);
    try {
      await queue.add('sd15', data, { jobId: 'c-active' });
      // Take it the way a worker does, without a processor.
      const { Worker } = await import('bullmq');
      const workerConnection = createRedis(process.env.REDIS_URL);
      const worker = new Worker(queue.name, null, { connection: workerConnection, prefix });
      const token = 'test-token';
      const job = await worker.getNextJob(token);
      expect(job?.id).toBe('c-active');
      expect(await cancelRenderJob(redis, queue, 'c-active')).toBe('requested');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(received).toEqual(['c-active']);
      await job!.moveToFailed(new Error('stopped'), token);
      await worker.close();
      workerConnection.disconnect();
      expect(await cancelRenderJob(redis, queue, 'no-such-job')).toBe('missing');
    } finally {
      subscriber.disconnect();
    }
  });
});
