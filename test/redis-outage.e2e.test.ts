/**
 * Redis goes away under a running API (issue 10, item 4): a redis-server of the test's own on a
 * spare loopback port is SIGKILLed mid-run and started again on its append-only file. While it is
 * away, `/readyz` answers 503 at once, submissions 503 with Retry-After within two seconds and
 * reads 503; after it returns the API serves again by itself, and no request made during the
 * outage created a job afterwards (before the fix every request hung, and commands queued in the
 * meantime created jobs for clients that had given up).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startApiProcess, startRedisServer, type ApiProcess, type RedisServer } from './harness.js';

const COMMAND_TIMEOUT_MS = 1000;
let redis: RedisServer;
let api: ApiProcess;

beforeAll(async () => {
  redis = await startRedisServer();
  api = await startApiProcess({ REDIS_URL: redis.url, KILN_REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS) });
});
afterAll(async () => {
  await api?.stop();
  await redis?.stop();
});

/** Job ids in Redis under the API's prefix (BullMQ keeps each job in a hash `<prefix>:render:<id>`). */
async function jobIds(): Promise<string[]> {
  const client = new Redis(redis.url);
  try {
    const keys = await client.keys(`${api.prefix}:render:*`);
    return keys.map((k) => /:render:([0-9a-f-]{36})$/.exec(k)?.[1]).filter((id): id is string => id !== undefined);
  } finally {
    client.disconnect();
  }
}

interface Timed {
  status: number | 'no answer';
  ms: number;
  retryAfter: string | null;
  json: any;
}

/** A request that gives up after 2.5 s, as an impatient client would. */
async function timed(pathname: string, init: RequestInit = {}): Promise<Timed> {
  const started = performance.now();
  try {
    const res = await fetch(`${api.url}${pathname}`, { ...init, signal: AbortSignal.timeout(2500) });
    const json = await res.json().catch(() => undefined);
    return { status: res.status, ms: performance.now() - started, retryAfter: res.headers.get('retry-after'), json };
  } catch {
    return { status: 'no answer', ms: performance.now() - started, retryAfter: null, json: undefined };
  }
}

const submit = (prompt: string, async = true) =>
  timed('/generate/sd', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(async && { 'x-octoai-async': '1' }) },
    body: JSON.stringify({ prompt, steps: 1 }),
  });

describe('Redis outage', () => {
  it('answers 503 at once while Redis is away, creates nothing afterwards, and recovers by itself', async () => {
    const before = await submit('before the outage');
    expect(before.status).toBe(201);
    const jobId = before.json.response_id as string;
    expect((await timed('/readyz')).json.redis).toBe(true);

    await redis.kill();
    const ready = await timed('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.json.redis).toBe(false);
    expect(ready.ms).toBeLessThan(1000);

    // Three seconds of traffic while Redis is away: submissions of every kind, and reads.
    const during: Array<[string, Timed]> = [];
    const outageEnds = performance.now() + 3000;
    for (let i = 0; performance.now() < outageEnds; i++) {
      during.push([`sync submit ${i}`, await submit(`during ${i}`, false)]);
      during.push([`async submit ${i}`, await submit(`during async ${i}`)]);
      during.push([
        `batch ${i}`,
        await timed('/v1/batches', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            requests: [{ custom_id: `b${i}`, url: '/generate/sd', body: { prompt: 'batch', steps: 1 } }],
          }),
        }),
      ]);
      during.push([`cancel ${i}`, await timed(`/v1/jobs/${jobId}/cancel`, { method: 'POST' })]);
      during.push([`read job ${i}`, await timed(`/v1/jobs/${jobId}`)]);
      during.push([`poll ${i}`, await timed(`/v1/requests/${jobId}`)]);
      during.push([`list ${i}`, await timed('/v1/jobs')]);
    }
    for (const [what, reply] of during) {
      expect(reply.status, what).toBe(503);
      expect(reply.ms, what).toBeLessThan(2000);
      expect(reply.json?.error?.code, what).toBe('service_unavailable');
      expect(Number(reply.retryAfter), what).toBeGreaterThan(0);
    }

    await redis.start();
    await pollUntil(async () => ((await timed('/readyz')).json?.redis === true ? true : undefined), 15_000, 100);
    const read = await timed(`/v1/jobs/${jobId}`);
    expect(read.status).toBe(200);
    expect(read.json.status).toBe('queued');
    const after = await submit('after the outage');
    expect(after.status).toBe(201);

    // Give anything that had been queued during the outage the time to land, then count.
    await new Promise((r) => setTimeout(r, 1000));
    const ids = await jobIds();
    const createdDuring = ids.filter((id) => id !== jobId && id !== after.json.response_id).length;
    const answered503 = during.filter(([, r]) => r.status === 503).length;
    const slowest = Math.round(Math.max(...during.map(([, r]) => r.ms)));
    console.log(
      `redis outage: ${during.length} requests without Redis, ${answered503} answered 503 (slowest ${slowest} ms), ${createdDuring} jobs created`,
    );
    expect(ids.sort()).toEqual([jobId, after.json.response_id].sort());
    expect(api.alive()).toBe(true);
  });

  it('answers 503 at once while Redis hangs with its connections open, after one request that waited', async () => {
    const before = await submit('before the freeze');
    expect(before.status).toBe(201);
    const jobId = before.json.response_id as string;
    const known = await jobIds();

    redis.freeze();
    try {
      // The first request waits for the command timeout; it is a read, so nothing is left behind.
      const first = await timed(`/v1/jobs/${jobId}`);
      expect(first.status).toBe(503);
      expect(first.ms).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
      const during: Timed[] = [];
      for (let i = 0; i < 20; i++) {
        during.push(await submit(`frozen ${i}`), await timed(`/v1/requests/${jobId}`), await timed('/readyz'));
      }
      for (const reply of during) {
        expect(reply.status).toBe(503);
        expect(reply.ms).toBeLessThan(800);
      }
    } finally {
      redis.thaw();
    }
    await pollUntil(async () => ((await timed('/readyz')).json?.redis === true ? true : undefined), 15_000, 100);
    expect((await timed(`/v1/jobs/${jobId}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    expect((await jobIds()).sort()).toEqual(known.sort());
  });
});
