/**
 * The fair-share clock on real Redis, and its priorities in a real BullMQ queue: the order in
 * which BullMQ hands out prioritized jobs is the order the clock intends.
 */
import { randomBytes } from 'node:crypto';
import { redisKeyPrefix } from '@kiln/config';
import { createRedis, deleteKeysMatching } from '@kiln/queue';
import { FAIR_FLOOR, FairShare, PRIORITY_LIMIT, fairCost, fairPriority } from '@kiln/state';
import { Queue, Worker } from 'bullmq';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

// The run's Redis: 127.0.0.1:6379, or the cluster of `npm run test:cluster`.
const redis = createRedis(process.env.REDIS_URL);
let prefix: string;

beforeEach(() => {
  prefix = redisKeyPrefix(`kiln-test-fair-${randomBytes(4).toString('hex')}`, process.env.REDIS_URL);
});
afterEach(async () => {
  await deleteKeysMatching(redis, `${prefix}:*`);
});
afterAll(() => redis.disconnect());

describe('FairShare', () => {
  it('gives a newcomer start tags at the current virtual time, interleaving with a big backlog', async () => {
    const fair = new FairShare(redis, { prefix });
    const a = await fair.assign('a', Array(1000).fill(1));
    expect(a.map((t) => t.tag)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(a[0].priority).toBe(FAIR_FLOOR);
    // workers have started a's first 10 items
    for (const t of a.slice(0, 10)) await fair.started(t.tag);
    const b = await fair.assign('b', Array(10).fill(1));
    expect(b.map((t) => t.tag)).toEqual(Array.from({ length: 10 }, (_, i) => 9 + i));
    // a's next submission goes after its own backlog, not before b
    const a2 = await fair.assign('a', [1]);
    expect(a2[0].tag).toBe(1000);
  });

  it('gives no credit for idle time and never moves the virtual time back', async () => {
    const fair = new FairShare(redis, { prefix });
    await fair.assign('idle', [1]);
    const busy = await fair.assign('busy', Array(500).fill(1));
    for (const t of busy.slice(0, 300)) await fair.started(t.tag);
    await fair.started(5); // a late event of an early item
    expect((await fair.clock()).vtime).toBe(299);
    // the idle tenant starts at V, not at its old finish tag (1)
    expect((await fair.assign('idle', [1]))[0].tag).toBe(299);
  });

  it('weighs items by their work', async () => {
    expect(fairCost({ images: 1, steps: 30, width: 512, height: 512 })).toBe(1);
    expect(fairCost({ images: 4, steps: 30, width: 512, height: 512 })).toBe(4);
    expect(fairCost({ images: 1, steps: 60, width: 1024, height: 1024 })).toBe(8);
    expect(fairCost({ images: 1, steps: 1, width: 64, height: 64 })).toBe(1);
    const fair = new FairShare(redis, { prefix });
    expect((await fair.assign('heavy', [8, 8])).map((t) => t.tag)).toEqual([0, 8]);
    expect((await fair.assign('light', [1, 1, 1])).map((t) => t.tag)).toEqual([0, 1, 2]);
  });

  it("stays under BullMQ's priority limit", () => {
    expect(fairPriority(10, 10)).toBe(FAIR_FLOOR);
    expect(fairPriority(5, 10)).toBe(FAIR_FLOOR);
    expect(fairPriority(2 ** 40, 0)).toBe(PRIORITY_LIMIT);
  });

  it('makes BullMQ run items in start-tag order; a rebase lowers priorities and keeps that order', async () => {
    const fair = new FairShare(redis, { prefix, rebaseAfter: 50 });
    const queue = new Queue('render', { connection: redis, prefix });
    const order: string[] = [];
    try {
      const add = async (tenant: string, n: number) => {
        const tags = await fair.assign(tenant, Array(n).fill(1));
        await queue.addBulk(
          tags.map((t, i) => ({
            name: 'x',
            data: { tenant, fairTag: t.tag },
            opts: { jobId: `${tenant}-${i}`, priority: t.priority },
          })),
        );
        return tags;
      };
      await add('a', 100);
      // 60 of a's items have started: V = 59, due for a rebase (59 ≥ 50)
      await fair.started(59);
      await redis.zremrangebyrank(queue.toKey('prioritized'), 0, 59);
      await add('b', 5);
      expect(await fair.rebaseDue()).toBe(true);
      const moved = await fair.rebase(async (jobId, base) => {
        const job = await queue.getJob(jobId);
        if (job) await job.changePriority({ priority: fairPriority(job.data.fairTag, base) });
      }, queue.toKey('prioritized'));
      expect(moved).toBe(45);
      expect((await fair.clock()).base).toBe(59);
      expect((await queue.getJob('a-60'))!.priority).toBe(FAIR_FLOOR + 1);
      // newcomers after the rebase still interleave with the backlog
      const c = await add('c', 2);
      expect(c[0].priority).toBe(FAIR_FLOOR);

      const worker = new Worker('render', async (job) => void order.push(job.id as string), {
        connection: createRedis(process.env.REDIS_URL),
        prefix,
        concurrency: 1,
      });
      await new Promise<void>((resolve) => {
        worker.on('drained', () => resolve());
      });
      await worker.close();
      // b (tags 59..63) and c (59, 60) are done before a's later items (tags 60..99)
      expect(order.slice(0, 12).filter((id) => id.startsWith('b') || id.startsWith('c'))).toHaveLength(7);
      expect(order.indexOf('b-4')).toBeLessThan(order.indexOf('a-70'));
      expect(order.filter((id) => id.startsWith('a'))).toEqual(Array.from({ length: 40 }, (_, i) => `a-${60 + i}`));
    } finally {
      await queue.close();
    }
  });
});
