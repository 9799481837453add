/**
 * Per-key limits over real HTTP and Redis: `rate_limit_per_minute` (429 + Retry-After, shared by
 * every API process) and `max_queued_jobs` (503 `queue_full` + Retry-After, freed when jobs end).
 */
import { startApi, type ApiServer } from '@kiln/api';
import { createLogger } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startHarness, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest } from './tenancy-helpers.js';

let h: Harness;
let second: ApiServer;
const limited = newKey('limited', 'acme', { rate_limit_per_minute: 3 });
const perSecond = newKey('per-second', 'acme', { rate_limit_per_minute: 60 });
const unlimited = newKey('unlimited', 'acme');
const smallQueue = newKey('small-queue', 'globex', { max_queued_jobs: 2 });

beforeAll(async () => {
  const keysFile = await keysFileWith([limited, perSecond, unlimited, smallQueue]);
  h = await startHarness(
    { KILN_KEYS_FILE: keysFile, KILN_ALLOW_ANY_RESOLUTION: '1', KILN_HOST: '127.0.0.1' },
    { worker: false },
  );
  // A second API process on the same Redis: limits are shared, not per process.
  second = await startApi({ config: h.config, logger: createLogger('test', 'silent') });
});
afterAll(async () => {
  await second?.close();
  await h?.stop();
});

describe('rate_limit_per_minute', () => {
  it('allows the burst, then answers 429 with Retry-After on every API process; other keys are not affected', async () => {
    const api = client(h.url, limited.token);
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const reply = await api.get('/v1/jobs');
      expect(reply.status).toBe(200);
      expect(reply.headers.get('ratelimit-limit')).toBe('3');
      remaining.push(reply.headers.get('ratelimit-remaining')!);
    }
    expect(remaining).toEqual(['2', '1', '0']);

    const refused = await api.post('/generate/sd', smallRequest(), ASYNC);
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('rate_limited');
    const retryAfter = Number(refused.headers.get('retry-after'));
    // One request per 20 s after the burst of 3.
    expect(retryAfter).toBeGreaterThanOrEqual(19);
    expect(retryAfter).toBeLessThanOrEqual(20);

    const elsewhere = await client(second.url, limited.token).get('/v1/jobs');
    expect(elsewhere.status).toBe(429);
    expect(Number(elsewhere.headers.get('retry-after'))).toBeGreaterThanOrEqual(19);

    expect((await client(h.url, unlimited.token).get('/v1/jobs')).status).toBe(200);
    expect((await client(h.url, unlimited.token).get('/v1/jobs')).headers.get('ratelimit-limit')).toBeNull();
    // A refused request creates nothing.
    expect((await client(h.url, unlimited.token).get('/v1/jobs')).json.jobs).toHaveLength(0);
  });

  it('lets requests through again once Retry-After has passed', async () => {
    const api = client(h.url, perSecond.token);
    const burst = await Promise.all(Array.from({ length: 60 }, () => api.get('/v1/usage')));
    expect(burst.filter((r) => r.status === 200)).toHaveLength(60);
    const refused = await api.get('/v1/usage');
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 50));
    expect((await api.get('/v1/usage')).status).toBe(200);
    expect((await api.get('/v1/usage')).status).toBe(429);
  });
});

describe('max_queued_jobs', () => {
  it('answers 503 queue_full with Retry-After over the limit, and takes jobs again when some end', async () => {
    const api = client(h.url, smallQueue.token);
    const a = await api.post('/generate/sd', smallRequest({ seed: 1 }), ASYNC);
    const b = await api.post('/generate/sd', smallRequest({ seed: 2 }), ASYNC);
    expect([a.status, b.status]).toEqual([201, 201]);

    const full = await api.post('/generate/sd', smallRequest({ seed: 3 }), ASYNC);
    expect(full.status).toBe(503);
    expect(full.json.error.code).toBe('queue_full');
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
    // Also when sent from another API process, and without creating a job.
    expect(
      (await client(second.url, smallQueue.token).post('/generate/sd', smallRequest({ seed: 3 }), ASYNC)).status,
    ).toBe(503);
    expect((await api.get('/v1/jobs')).json.jobs).toHaveLength(2);

    // A canceled job gives its place back at once.
    expect((await api.post(`/v1/jobs/${a.json.response_id}/cancel`)).status).toBe(200);
    const c = await api.post('/generate/sd', smallRequest({ seed: 3 }), ASYNC);
    expect(c.status, c.text).toBe(201);
    expect((await api.post('/generate/sd', smallRequest({ seed: 4 }), ASYNC)).status).toBe(503);

    // Jobs a worker finishes give theirs back too.
    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      for (const id of [b.json.response_id, c.json.response_id]) {
        await pollUntil(async () => ((await api.get(`/v1/jobs/${id}`)).json.status === 'completed' ? true : undefined));
      }
      const d = await api.post('/generate/sd', smallRequest({ seed: 5 }));
      const e = await api.post('/generate/sd', smallRequest({ seed: 6 }), ASYNC);
      expect([d.status, e.status]).toEqual([200, 201]);
    } finally {
      await worker.close();
    }
  });
});
