/**
 * Finding and removing keys by pattern on one Redis or a whole Redis Cluster. On a cluster, SCAN
 * and KEYS only see the node they are sent to, so every master is scanned; and DEL of several keys
 * must name keys of one slot, so keys are deleted slot by slot.
 */
import keySlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { masterNodes, type RedisClient } from './connection.js';

/** The Redis Cluster hash slot of a key (0–16383), honouring `{hash tags}`. */
export { keySlot };

/** Every key matching a glob `pattern` (SCAN MATCH), on every master of a cluster. */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const found = new Set<string>();
  // A cluster client knows its masters once it has read the layout: the first answer means it has.
  if (redis instanceof Cluster) await redis.ping();
  for (const node of masterNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const key of keys) found.add(key);
      cursor = next;
    } while (cursor !== '0');
  }
  return [...found];
}

/** Deletes keys, in one DEL per slot and at most 1000 keys a command. Returns how many existed. */
export async function deleteKeys(redis: RedisClient, keys: readonly string[]): Promise<number> {
  const bySlot = new Map<number, string[]>();
  for (const key of keys) {
    const slot = keySlot(key);
    const group = bySlot.get(slot);
    if (group) group.push(key);
    else bySlot.set(slot, [key]);
  }
  let deleted = 0;
  for (const group of bySlot.values()) {
    for (let i = 0; i < group.length; i += 1000) deleted += await redis.del(...group.slice(i, i + 1000));
  }
  return deleted;
}

/** Deletes every key matching `pattern` (e.g. `{kiln-test-1a2b}:*` when a test ends). */
export async function deleteKeysMatching(redis: RedisClient, pattern: string): Promise<number> {
  return deleteKeys(redis, await scanKeys(redis, pattern));
}
