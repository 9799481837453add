/**
 * On a Redis Cluster every multi-key command, MULTI/EXEC block and Lua script must name keys of one
 * hash slot (else CROSSSLOT), and BullMQ's scripts build keys from the prefix inside Redis. Kiln's
 * answer (docs/operations.md, "Redis Cluster"): the prefix of every key is a hash tag on a cluster,
 * so all of a deployment's keys, BullMQ's and Kiln's, hash to one slot. This checks the keys Kiln
 * builds for one job, one batch, one tenant and one key, with the slot function Redis uses.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, redisKeyPrefix } from '@kiln/config';
import { BatchStore, stateKeys } from '@kiln/state';
import { cancelKeys, createRedis, createRenderQueue, keySlot } from '@kiln/queue';
import { attemptLogKey, createWebhookQueue } from '@kiln/webhooks';

const CLUSTER_URL = 'redis-cluster://127.0.0.1:7000,127.0.0.1:7001';
const prefix = loadConfig({ REDIS_URL: CLUSTER_URL, KILN_QUEUE_PREFIX: 'kiln' }).queuePrefix;

/** Calls every key builder of `stateKeys` with sample arguments: a key added there is checked too. */
function everyStateKey(keys: Record<string, unknown>): string[] {
  return Object.entries(keys).flatMap(([name, builder]) => {
    if (typeof builder === 'string') return [builder];
    if (typeof builder !== 'function') throw new Error(`stateKeys().${name} is neither a key nor a key builder`);
    const args = ['tenant-a', 'key-1', '2026-01-01', 'job-1'].slice(0, builder.length);
    return [(builder as (...a: string[]) => string)(...args)];
  });
}

// BullMQ's key names come from its own Queue objects; they need a connection, never used here.
const redis = createRedis(undefined, { lazyConnect: true });
const renderQueue = createRenderQueue(redis, { prefix, attempts: 1, retentionMs: 1000 });
const webhookQueue = createWebhookQueue(redis, { prefix, attempts: 1, backoffMs: 1 });
afterAll(async () => {
  await renderQueue.close();
  await webhookQueue.close();
  redis.disconnect();
});

describe('Redis keys on a cluster', () => {
  it('tags the prefix on a cluster and leaves a single Redis as it was', () => {
    expect(prefix).toBe('{kiln}');
    expect(loadConfig({ KILN_QUEUE_PREFIX: 'kiln' }).queuePrefix).toBe('kiln');
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', KILN_QUEUE_PREFIX: 'kiln' }).queuePrefix).toBe('kiln');
    // A tag chosen by hand is kept, on both.
    expect(redisKeyPrefix('{kiln}', undefined)).toBe('{kiln}');
    expect(redisKeyPrefix('{kiln}', CLUSTER_URL)).toBe('{kiln}');
    expect(() => loadConfig({ KILN_QUEUE_PREFIX: '{kiln' })).toThrow(/KILN_QUEUE_PREFIX/);
  });

  it("puts every key of a job, its batch, its tenant and its API key in the prefix's slot", () => {
    const jobId = 'job-1';
    const batches = new BatchStore(redis, prefix, 1000);
    const keys = [
      ...everyStateKey(stateKeys(prefix)),
      // BullMQ: the queue's own keys and a job's hash, lock and logs.
      ...Object.values(renderQueue.keys),
      ...['', ':lock', ':logs'].map((part) => `${renderQueue.toKey(jobId)}${part}`),
      ...Object.values(webhookQueue.keys),
      cancelKeys(prefix).marker(jobId),
      ...['', 'ended', 'active', 'outcomes', 'finished', 'items', 'item-of', 'staging'].map((part) =>
        batches.key('batch-1', part),
      ),
      attemptLogKey(prefix, { kind: 'job', id: jobId }),
      attemptLogKey(prefix, { kind: 'batch', id: 'batch-1' }),
    ];
    expect(keys.length).toBeGreaterThan(40);
    const slot = keySlot('kiln');
    const elsewhere = keys.filter((key) => keySlot(key) !== slot);
    expect(elsewhere).toEqual([]);
    // And the same keys spread over slots without the tag: the check can fail.
    const untagged = keys.map((key) => key.replace(prefix, 'kiln'));
    expect(new Set(untagged.map((key) => keySlot(key))).size).toBeGreaterThan(10);
  });

  it('computes slots as Redis Cluster does (CRC16 of the tag, mod 16384)', () => {
    // CRC16/XMODEM of "123456789" is 0x31C3, the check value of the Redis Cluster specification.
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
    expect(keySlot('{kiln}:render:wait')).toBe(keySlot('kiln'));
  });
});
