/**
 * Submissions made in the same turn of the event loop share one MULTI (@kiln/queue
 * transactional-add.ts), on a real Redis: they all land with their bookkeeping in one round trip,
 * and each keeps its own outcome: a command error or a throwing bookkeeping fails its own call only,
 * and a call that threw before the round trip leaves nothing behind.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { redisKeyPrefix } from '@kiln/config';
import { addJobsWithBookkeeping, createRedis, createRenderQueue, deleteKeysMatching, PRIORITY } from '@kiln/queue';
import { afterAll, describe, expect, it } from 'vitest';
import { sd15Job } from './job-fixtures.js';

const prefix = redisKeyPrefix(`kiln-test-${randomBytes(4).toString('hex')}`, process.env.REDIS_URL);
const redis = createRedis(process.env.REDIS_URL);
const queue = createRenderQueue(redis, { prefix, attempts: 3, retentionMs: 3600_000 });
const marks = `${prefix}:marks`;

afterAll(async () => {
  await queue.close();
  await deleteKeysMatching(redis, `${prefix}:*`);
  redis.disconnect();
});

/** One call of the API's shape: a job and a bookkeeping command naming it. */
function submit(
  jobId: string,
  bookkeeping = (multi: Parameters<Parameters<typeof addJobsWithBookkeeping>[2]>[0]) => void multi.sadd(marks, jobId),
) {
  return addJobsWithBookkeeping(
    queue,
    [{ name: 'sd15', data: sd15Job({}, { tenant: 'acme' }), opts: { jobId, priority: PRIORITY.async } }],
    bookkeeping,
  );
}

/** Counts the MULTIs the queue's client opens while `run` runs. */
async function countingTransactions<T>(run: () => Promise<T>): Promise<{ result: T; transactions: number }> {
  const client = await queue.backend.client;
  const multi = client.multi;
  let transactions = 0;
  client.multi = ((...args: Parameters<typeof multi>) => {
    transactions++;
    return multi.apply(client, args);
  }) as typeof multi;
  try {
    return { result: await run(), transactions };
  } finally {
    client.multi = multi;
  }
}

describe('submissions in one turn of the event loop', () => {
  it('share one transaction, each job with its bookkeeping', async () => {
    const ids = Array.from({ length: 20 }, () => randomUUID());
    const { transactions } = await countingTransactions(() => Promise.all(ids.map((id) => submit(id))));
    expect(transactions).toBe(1);
    for (const id of ids) {
      expect(await queue.getJobState(id)).toBe('prioritized');
      expect(await redis.sismember(marks, id)).toBe(1);
    }
  });

  it('one call at a time still goes at once, a transaction each', async () => {
    const { transactions } = await countingTransactions(async () => {
      for (let i = 0; i < 3; i++) await submit(randomUUID());
    });
    expect(transactions).toBe(3);
  });

  it('fails only the call whose own command failed', async () => {
    const wrongType = `${prefix}:a-string`;
    await redis.set(wrongType, 'not a list');
    const [good, bad, alsoGood] = [randomUUID(), randomUUID(), randomUUID()];
    const outcomes = await Promise.allSettled([
      submit(good),
      submit(bad, (multi) => void multi.lpush(wrongType, 'x')), // WRONGTYPE at EXEC
      submit(alsoGood),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(await redis.sismember(marks, good)).toBe(1);
    expect(await redis.sismember(marks, alsoGood)).toBe(1);
  });

  it('a bookkeeping that throws fails its call and sends nothing of it; the others land', async () => {
    const [before, thrower, after] = [randomUUID(), randomUUID(), randomUUID()];
    const outcomes = await Promise.allSettled([
      submit(before),
      submit(thrower, (multi) => {
        multi.sadd(marks, thrower);
        throw new Error('bookkeeping broke halfway');
      }),
      submit(after),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await queue.getJob(thrower)).toBeUndefined();
    expect(await redis.sismember(marks, thrower)).toBe(0);
    for (const id of [before, after]) {
      expect(await queue.getJobState(id)).toBe('prioritized');
      expect(await redis.sismember(marks, id)).toBe(1);
    }
  });

  it('an invalid job option fails its call before anything is queued', async () => {
    const jobId = randomUUID();
    await expect(
      addJobsWithBookkeeping(
        queue,
        [{ name: 'sd15', data: sd15Job({}, { tenant: 'acme' }), opts: { jobId, priority: 1.5 } }],
        (multi) => void multi.sadd(marks, jobId),
      ),
    ).rejects.toThrow(/priority/i);
    expect(await redis.sismember(marks, jobId)).toBe(0);
  });
});
