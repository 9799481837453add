/**
 * The batch record's counting on real Redis: each item counts once, the batch closes with its last
 * item and never before the upload is over, and a canceled batch ends `canceled`.
 */
import { randomBytes } from 'node:crypto';
import { redisKeyPrefix } from '@kiln/config';
import { createRedis, deleteKeysMatching } from '@kiln/queue';
import { BatchStore, type ItemOutcome } from '@kiln/state';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

// The run's Redis: 127.0.0.1:6379, or the cluster of `npm run test:cluster`.
const redis = createRedis(process.env.REDIS_URL);
let prefix: string;
let store: BatchStore;

const outcome = (status: ItemOutcome['status']): ItemOutcome => ({
  status,
  seeds: [1],
  images: [],
  model: null,
  error: status === 'completed' ? null : { code: status, message: status },
  finished_at: new Date().toISOString(),
});

beforeEach(async () => {
  prefix = redisKeyPrefix(`kiln-test-batch-${randomBytes(4).toString('hex')}`, process.env.REDIS_URL);
  store = new BatchStore(redis, prefix, 60_000);
  await store.create({
    id: 'b1',
    tenant: 't',
    keyId: 'k',
    webhookUrl: undefined,
    webhookEvents: [],
    baseUrl: 'http://x',
  });
  await store.setCounts('b1', { total: 3, valid: 3, invalid: 0 });
});
afterEach(async () => {
  await deleteKeysMatching(redis, `${prefix}:*`);
});
afterAll(() => redis.disconnect());

describe('BatchStore', () => {
  it('counts each item once and closes the batch with the last one, only after the upload is over', async () => {
    expect(await store.recordEnd('b1', 'j1', 'completed', outcome('completed'))).toBe('counted');
    expect(await store.recordEnd('b1', 'j1', 'completed', outcome('completed'))).toBe('duplicate');
    expect(await store.recordEnd('b1', 'j2', 'failed', outcome('failed'))).toBe('counted');
    expect(await store.recordEnd('b1', 'j3', 'completed', outcome('completed'))).toBe('counted'); // upload not over yet
    expect((await store.get('b1'))!.status).toBe('validating');
    expect(await store.markEnqueued('b1')).toBe('finished:completed');
    const b = (await store.get('b1'))!;
    expect(b).toMatchObject({ status: 'completed', completed: 2, failed: 1, ended: 3, enqueued: true });
    expect(b.finishedAt).not.toBeNull();
    expect(await store.finished('b1', 0, 10)).toEqual(['j1', 'j2', 'j3']);
    expect((await store.outcomes('b1', ['j2', 'nope']))[0]!.status).toBe('failed');
    expect(await store.recordEnd('gone', 'j1', 'completed', outcome('completed'))).toBe('missing');
  });

  it('does not count an item as running after it ended', async () => {
    await store.recordEnd('b1', 'j1', 'completed', outcome('completed'));
    await store.markActive('b1', 'j1');
    await store.markActive('b1', 'j2');
    expect([...(await store.activeJobs('b1'))]).toEqual(['j2']);
    await store.recordEnd('b1', 'j2', 'completed', outcome('completed'));
    expect((await store.activeJobs('b1')).size).toBe(0);
  });

  it('ends canceled when canceled, and refuses to cancel twice', async () => {
    await store.markEnqueued('b1');
    expect(await store.requestCancel('b1')).toBe('counted');
    expect((await store.get('b1'))!.status).toBe('canceling');
    for (const j of ['j1', 'j2']) await store.recordEnd('b1', j, 'canceled', outcome('canceled'));
    expect(await store.recordEnd('b1', 'j3', 'completed', outcome('completed'))).toBe('finished:canceled');
    expect(await store.requestCancel('b1')).toBe('canceled');
    expect(await store.get('b1')).toMatchObject({ status: 'canceled', canceled: 2, completed: 1 });
  });
});
