/**
 * Withdrawing a refused submission (@kiln/state job-withdrawal.ts) on a real Redis: a job added the
 * way the API adds it (one MULTI with its index entry, @kiln/queue transactional-add.ts) is deleted
 * while it waits, asked to stop and never billed once a worker has it, left alone (only unlisted)
 * once it has finished, and a job Redis never got is nothing to do.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { redisKeyPrefix } from '@kiln/config';
import {
  addJobsWithBookkeeping,
  cancelKeys,
  createRedis,
  createRenderQueue,
  deleteKeysMatching,
  PRIORITY,
  RENDER_QUEUE,
} from '@kiln/queue';
import { queueIndexJobs, recordJobUsage, reserveOpenJobs, stateKeys, withdrawRefusedJob } from '@kiln/state';
import { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { sd15Job } from './job-fixtures.js';

const prefix = redisKeyPrefix(`kiln-test-${randomBytes(4).toString('hex')}`, process.env.REDIS_URL);
const redis = createRedis(process.env.REDIS_URL);
const queue = createRenderQueue(redis, { prefix, attempts: 3, retentionMs: 3600_000 });
const keys = stateKeys(prefix);
const caller = { tenant: 'acme', keyId: 'k1' };

afterAll(async () => {
  await queue.close();
  await deleteKeysMatching(redis, `${prefix}:*`);
  redis.disconnect();
});

/** Admits one job as the API does: its slot, then the job and its index entry in one MULTI. */
async function admit(): Promise<string> {
  const jobId = randomUUID();
  expect((await reserveOpenJobs(redis, queue, caller.keyId, 100, [jobId])).ok).toBe(true);
  await addJobsWithBookkeeping(
    queue,
    [{ name: 'sd15', data: sd15Job({}, { ...caller }), opts: { jobId, priority: PRIORITY.async } }],
    (multi) => queueIndexJobs(multi, prefix, [{ ...caller, jobId, createdAt: Date.now() }], 3600_000),
  );
  return jobId;
}

const listed = async (jobId: string) => (await redis.zscore(keys.tenantJobs(caller.tenant), jobId)) !== null;
const slotted = async (jobId: string) => (await redis.zscore(keys.openJobs(caller.keyId), jobId)) !== null;

describe('withdrawing a refused submission', () => {
  it('adds a job and its index entry in one transaction', async () => {
    const jobId = await admit();
    expect(await queue.getJobState(jobId)).toBe('prioritized');
    expect(await listed(jobId)).toBe(true);
    expect(await slotted(jobId)).toBe(true);
    await withdrawRefusedJob(redis, queue, { jobId, ...caller }); // the next test's worker takes the next job
  });

  it('deletes a waiting job with its listing and slot', async () => {
    const jobId = await admit();
    expect(await withdrawRefusedJob(redis, queue, { jobId, ...caller })).toBe('withdrawn');
    expect(await queue.getJob(jobId)).toBeUndefined();
    expect(await redis.zscore(queue.toKey('prioritized'), jobId)).toBeNull();
    expect(await listed(jobId)).toBe(false);
    expect(await slotted(jobId)).toBe(false);
    // Twice is harmless: nothing left to withdraw.
    expect(await withdrawRefusedJob(redis, queue, { jobId, ...caller })).toBe('absent');
  });

  it('cancels a job a worker has already taken, and its usage is never counted', async () => {
    const jobId = await admit();
    const worker = new Worker(RENDER_QUEUE, null, { connection: createRedis(process.env.REDIS_URL), prefix });
    const subscriber = createRedis(process.env.REDIS_URL);
    try {
      const taken = await worker.getNextJob('token');
      expect(taken?.id).toBe(jobId);
      const channel = cancelKeys(prefix).channel;
      const heard = new Promise<string>((resolve) => subscriber.on('message', (_c: string, id: string) => resolve(id)));
      await subscriber.subscribe(channel);
      expect(await withdrawRefusedJob(redis, queue, { jobId, ...caller })).toBe('canceling');
      expect(await heard).toBe(jobId);
      expect(await redis.exists(cancelKeys(prefix).marker(jobId))).toBe(1);
      expect(await listed(jobId)).toBe(false);
      expect(await slotted(jobId)).toBe(false);
      // The job ends canceled through the lifecycle, which records usage: not for this one.
      const usage = {
        ...caller,
        jobId,
        outcome: 'canceled' as const,
        images: 0,
        stepsPerImage: 2,
        width: 64,
        height: 64,
      };
      expect(await recordJobUsage(redis, prefix, usage)).toBe(false);
    } finally {
      await worker.close();
      subscriber.disconnect();
    }
  });

  it('leaves a finished job alone, only unlisted', async () => {
    const jobId = await admit();
    await redis.hset(queue.toKey(jobId), 'finishedOn', Date.now());
    expect(await withdrawRefusedJob(redis, queue, { jobId, ...caller })).toBe('finished');
    expect(await queue.getJob(jobId)).toBeDefined();
    expect(await redis.exists(cancelKeys(prefix).marker(jobId))).toBe(0);
    expect(await listed(jobId)).toBe(false);
  });

  it('does nothing for a job Redis never got', async () => {
    expect(await withdrawRefusedJob(redis, queue, { jobId: randomUUID(), ...caller })).toBe('absent');
  });
});
