/**
 * Kiln on a real Redis Cluster (3 masters on loopback, started here): the cluster is real (keys
 * spread over its masters, cross-slot commands refused), every key a working deployment writes
 * lands in one slot, and a representative part of the integration suite passes against it. The
 * whole suite runs against a cluster with `npm run test:cluster` (docs/operations.md, "Redis Cluster").
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, keySlot, masterNodes, pingRedis, scanKeys, type RedisClient } from '@kiln/queue';
import { collectLines, exited, freePort, getJson, pollUntil, postJson, startHarness } from './harness.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';

/**
 * The files run against the cluster in `npm test`, chosen for the most Redis per second: every
 * Lua script and MULTI of the ledgers, the batch store and the fair-share clock on their own, and
 * end to end the cancel paths (pub/sub, the script on BullMQ's keys), idempotency, rate limits and
 * the job index. `npm run test:cluster` runs the whole suite.
 */
const CLUSTER_SUBSET = [
  'test/redis-ledgers.test.ts',
  'test/batch-store.test.ts',
  'test/fair-share.test.ts',
  'test/job-cancel.e2e.test.ts',
  'test/idempotency.e2e.test.ts',
  'test/rate-limit.e2e.test.ts',
  'test/job-list.e2e.test.ts',
];

const ROOT = path.resolve(import.meta.dirname, '..');

let cluster: RedisCluster;
let redis: RedisClient;
beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = createRedis(cluster.url);
  await redis.ping();
});
afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

/** Commands of one kind served by the cluster's masters so far (INFO commandstats). */
async function callsOf(command: string): Promise<number> {
  const counts = await Promise.all(
    masterNodes(redis).map(async (node) => {
      const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await node.info('commandstats'));
      return match ? Number(match[1]) : 0;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

describe('Kiln on a 3-master Redis Cluster', () => {
  it('is a real cluster: three masters share the slots and a cross-slot command is refused', async () => {
    expect(redis).toBeInstanceOf(Cluster);
    expect(masterNodes(redis)).toHaveLength(3);
    expect(await pingRedis(cluster.url)).toBe(true);
    expect(await pingRedis(`redis-cluster://127.0.0.1:${await freePort()}`)).toBe(false);
    await expect(redis.del('kiln:a', 'kiln:b')).rejects.toThrow(/CROSSSLOT/);
    // Kiln's slot arithmetic is the cluster's.
    for (const key of ['{kiln}:render:wait', 'kiln:kiln:usage:t:k:2026-01-01', '123456789']) {
      expect(await (redis as Cluster).cluster('KEYSLOT', key)).toBe(keySlot(key));
    }
  });

  it('serves jobs, cancels, idempotent retries, a batch and usage, writing every key in one slot', async () => {
    const h = await startHarness({
      REDIS_URL: cluster.url,
      KILN_ALLOW_ANY_RESOLUTION: '1',
      KILN_INTRA_OP_THREADS: '1',
    });
    const rawPrefix = h.config.queuePrefix.slice(1, -1);
    try {
      expect(h.config.queuePrefix).toBe(`{${rawPrefix}}`);
      const tiny = { prompt: 'a cat', width: 64, height: 64, steps: 2, image_encoding: 'png' };
      const sync = await postJson(`${h.url}/generate/sd`, { ...tiny, num_images: 2, seed: [1, 2] });
      expect(sync.status).toBe(200);
      expect(sync.json.images.map((i: { seed: number }) => i.seed)).toEqual([1, 2]);

      const headers = { 'X-OctoAI-Async': '1', 'Idempotency-Key': 'cluster-1' };
      const first = await postJson(`${h.url}/generate/sd`, { ...tiny, steps: 40, width: 256, height: 256 }, headers);
      const again = await postJson(`${h.url}/generate/sd`, { ...tiny, steps: 40, width: 256, height: 256 }, headers);
      expect(first.status).toBe(201);
      expect(again.json.response_id).toBe(first.json.response_id);
      const cancel = await fetch(`${h.url}/v1/jobs/${first.json.response_id}/cancel`, { method: 'POST' });
      expect(cancel.status).toBeLessThan(300);
      await pollUntil(async () => {
        const job = (await getJson(`${h.url}/v1/jobs/${first.json.response_id}`)).json;
        return job.status === 'canceled' ? job : undefined;
      }, 30_000);

      const lines = [1, 2, 3].map((i) =>
        JSON.stringify({ custom_id: `i${i}`, url: '/generate/sd', body: { ...tiny, seed: i } }),
      );
      const batch = await fetch(`${h.url}/v1/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: lines.join('\n') + '\n',
      }).then((r) => r.json() as Promise<{ id: string }>);
      await pollUntil(async () => {
        const b = (await getJson(`${h.url}/v1/batches/${batch.id}`)).json;
        return b.status === 'completed' ? b : undefined;
      }, 60_000);
      // Usage is counted as each job ends: one job of 2 images, 3 of 1, the canceled one of none.
      const totals = await pollUntil(async () => {
        const usage = (await getJson(`${h.url}/v1/usage`)).json;
        return usage.totals.jobs === 5 ? usage.totals : undefined;
      }, 30_000);
      expect(totals).toMatchObject({ jobs: 5, jobs_completed: 4, jobs_canceled: 1, images: 5 });

      // Every key this deployment wrote carries the tag, so all of them share one slot and one master.
      const keys = await scanKeys(redis, `*${rawPrefix}*`);
      expect(keys.length).toBeGreaterThan(20);
      expect(keys.filter((key) => !key.startsWith(`${h.config.queuePrefix}:`))).toEqual([]);
      expect(new Set(keys.map((key) => keySlot(key)))).toEqual(new Set([keySlot(rawPrefix)]));
    } finally {
      await h.stop();
    }
    // …and the harness' cleanup found them on the cluster.
    expect(await scanKeys(redis, `*${rawPrefix}*`)).toEqual([]);
  });

  it('answers 503, never 500, while the cluster hangs, and serves again once it answers', async () => {
    const h = await startHarness(
      { REDIS_URL: cluster.url, KILN_ALLOW_ANY_RESOLUTION: '1', KILN_REDIS_COMMAND_TIMEOUT_MS: '300' },
      { worker: false },
    );
    const submit = () =>
      postJson(`${h.url}/generate/sd`, { prompt: 'a cat', width: 64, height: 64, steps: 1 }, { 'X-OctoAI-Async': '1' });
    try {
      expect((await submit()).status).toBe(201);
      // Shorter than the nodes' 5 s cluster-node-timeout: the cluster itself stays healthy.
      cluster.freeze();
      let hung: Awaited<ReturnType<typeof submit>>;
      try {
        hung = await submit();
      } finally {
        cluster.thaw();
      }
      expect(hung.status).toBe(503);
      expect(hung.json.error.code).toBe('service_unavailable');
      const after = await pollUntil(async () => ((await submit()).status === 201 ? true : undefined), 20_000, 200);
      expect(after).toBe(true);
    } finally {
      await h.stop();
    }
  });

  it('passes a representative part of the integration suite against the cluster', async () => {
    const scriptsBefore = await callsOf('evalsha');
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...CLUSTER_SUBSET], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: cluster.url, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    collectLines(child, output);
    if (!(await exited(child, 280_000))) child.kill('SIGKILL');
    const plain = output.map((line) => stripVTControlCharacters(line));
    const summary = plain.filter((line) => /Test Files|Tests |FAIL|×/.test(line)).join('\n');
    expect(child.exitCode, `${summary}\n${plain.slice(-60).join('\n')}`).toBe(0);
    expect(summary).toMatch(new RegExp(`Test Files\\s+${CLUSTER_SUBSET.length} passed`));
    // The files ran on this cluster: its masters served their scripts.
    expect((await callsOf('evalsha')) - scriptsBefore).toBeGreaterThan(100);
  }, 300_000);
});
