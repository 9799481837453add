/**
 * The backlog's Redis script on a real Redis: every move is idempotent (a replayed event changes
 * nothing), work units return to exactly zero, jobs that ended unseen are repaired away, and a job
 * queued on the submission transaction is tracked with it.
 */
import { randomBytes } from 'node:crypto';
import { redisKeyPrefix } from '@kiln/config';
import { createRedis, deleteKeysMatching } from '@kiln/queue';
import { moveBacklog, queueBacklog, readBacklog, repairBacklog, type JobWork } from '@kiln/state';
import { afterAll, describe, expect, it } from 'vitest';
import { sd15Job } from './job-fixtures.js';

const prefix = redisKeyPrefix(`kiln-test-${randomBytes(4).toString('hex')}`, process.env.REDIS_URL);
const redis = createRedis(process.env.REDIS_URL);
afterAll(async () => {
  await deleteKeysMatching(redis, `${prefix}:*`);
  redis.disconnect();
});

const row = async (lane: string) => (await readBacklog(redis, prefix, ['sd15'])).find((r) => r.lane === lane)!;
// 0.1 and 0.2 are not exact in binary: summing and subtracting them as floats would not return to 0
const work = (units: number, lane: JobWork['lane'] = 'batch'): JobWork => ({ family: 'sd15', lane, units });

describe('the backlog ledger', () => {
  it('moves each job once, whatever is replayed, and returns to exactly zero', async () => {
    const jobs = [
      { jobId: 'a', work: work(0.1) },
      { jobId: 'b', work: work(0.2) },
      { jobId: 'c', work: work(0.7, 'interactive') },
    ];
    expect(await moveBacklog(redis, prefix, 'queued', jobs)).toBe(3);
    expect(await moveBacklog(redis, prefix, 'queued', jobs)).toBe(0); // replayed: nothing moves
    expect(await row('batch')).toMatchObject({ prioritized: 2, waiting: 0, active: 0, units: 0.3 });
    expect(await row('interactive')).toMatchObject({ waiting: 1, prioritized: 0, units: 0.7 });

    await moveBacklog(redis, prefix, 'active', [{ jobId: 'a' }]);
    await moveBacklog(redis, prefix, 'active', [{ jobId: 'a' }]);
    expect(await row('batch')).toMatchObject({ prioritized: 1, active: 1, units: 0.2 });
    await moveBacklog(redis, prefix, 'delayed', [{ jobId: 'a' }]); // a retry: work again
    expect(await row('batch')).toMatchObject({ prioritized: 1, delayed: 1, active: 0, units: 0.3 });

    for (const id of ['a', 'b', 'c', 'a']) await moveBacklog(redis, prefix, 'gone', [{ jobId: id }]);
    const batch = await row('batch');
    expect(batch).toMatchObject({ prioritized: 0, delayed: 0, active: 0 });
    expect(batch.units).toBe(0);
    expect((await row('interactive')).units).toBe(0);
  });

  it('ignores moves of jobs it never tracked unless their work is given', async () => {
    expect(await moveBacklog(redis, prefix, 'active', [{ jobId: 'unknown' }])).toBe(0);
    expect(await moveBacklog(redis, prefix, 'gone', [{ jobId: 'unknown' }])).toBe(0);
    expect((await row('batch')).active).toBe(0);
  });

  it('tracks jobs on the transaction that queues them, a delayed one apart', async () => {
    const data = sd15Job({ steps: 10, width: 512, height: 512, cfg_scale: 7 }, { seeds: [1, 2] });
    const multi = redis.multi();
    queueBacklog(multi, prefix, [
      { data, opts: { jobId: 'x', priority: 5 } },
      { data, opts: { jobId: 'y', priority: 5, delay: 60_000 } },
    ]);
    await multi.exec();
    const perJob = 10 * 0.262144 * 2 * 2;
    expect(await row('async')).toMatchObject({ prioritized: 1, delayed: 1 });
    expect((await row('async')).units).toBeCloseTo(2 * perJob, 9);
  });

  it('repairs away entries of jobs that ended or vanished without their end reaching it', async () => {
    await redis.hset(`${prefix}:job:x`, 'timestamp', '1', 'finishedOn', '2'); // ended
    // y has no job hash at all: gone
    await moveBacklog(redis, prefix, 'queued', [{ jobId: 'z', work: work(1, 'async') }]);
    await redis.hset(`${prefix}:job:z`, 'timestamp', '1'); // still waiting
    expect(await repairBacklog(redis, prefix, (id) => `${prefix}:job:${id}`)).toBe(2);
    expect(await row('async')).toMatchObject({ prioritized: 1, delayed: 0, units: 1 });
  });
});
