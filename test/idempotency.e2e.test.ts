/**
 * Idempotency-Key over real HTTP and Redis: concurrent identical POSTs make one job, a replay
 * gets the same job, another body with the same key is a 409, and keys are per tenant.
 */
import { createLogger } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, type Client } from './tenancy-helpers.js';

let h: Harness;
let acme: Client;
let globex: Client;
const acmeKey = newKey('acme-1', 'acme');
const globexKey = newKey('globex-1', 'globex');

beforeAll(async () => {
  const keysFile = await keysFileWith([acmeKey, globexKey]);
  // No worker: jobs stay queued, so the queue shows exactly what the POSTs created.
  h = await startHarness(
    { KILN_KEYS_FILE: keysFile, KILN_ALLOW_ANY_RESOLUTION: '1', KILN_HOST: '127.0.0.1' },
    { worker: false },
  );
  acme = client(h.url, acmeKey.token);
  globex = client(h.url, globexKey.token);
});
afterAll(() => h?.stop());

const jobCount = async () => {
  const counts = await h.api.deps.queue.getJobCounts('wait', 'prioritized', 'active', 'completed', 'failed', 'delayed');
  return Object.values(counts).reduce((a, b) => a + b, 0);
};

describe('Idempotency-Key', () => {
  it('20 concurrent identical POSTs make one job, and every one of them answers with it', async () => {
    const before = await jobCount();
    const body = smallRequest({ prompt: 'twenty at once', seed: 20 });
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => acme.post('/generate/sd', body, { ...ASYNC, 'Idempotency-Key': 'order-20' })),
    );
    for (const reply of replies) expect(reply.status, reply.text).toBe(201);
    const ids = new Set(replies.map((r) => r.json.response_id));
    expect(ids.size).toBe(1);
    expect(await jobCount()).toBe(before + 1);
    expect(replies.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(19);
    const listed = await acme.get('/v1/jobs');
    expect(listed.json.jobs.filter((j: any) => j.id === [...ids][0])).toHaveLength(1);
  });

  it('the same key and body later gives the same job; key order in the body does not matter', async () => {
    const first = await acme.post('/generate/sd', smallRequest({ seed: 30 }), { ...ASYNC, 'Idempotency-Key': 'k-30' });
    const reordered = Object.fromEntries(Object.entries(smallRequest({ seed: 30 })).reverse());
    const second = await acme.post('/generate/sd', reordered, { ...ASYNC, 'Idempotency-Key': 'k-30' });
    expect(second.status).toBe(201);
    expect(second.json.response_id).toBe(first.json.response_id);
  });

  it('the same key with another body, or another endpoint, is a 409 conflict and creates nothing', async () => {
    await acme.post('/generate/sd', smallRequest({ seed: 40 }), { ...ASYNC, 'Idempotency-Key': 'k-40' });
    const before = await jobCount();
    const other = await acme.post('/generate/sd', smallRequest({ seed: 41 }), { ...ASYNC, 'Idempotency-Key': 'k-40' });
    expect(other.status).toBe(409);
    expect(other.json.error.code).toBe('conflict');
    const otherPath = await acme.post('/generate/sd3', smallRequest({ seed: 40 }), {
      ...ASYNC,
      'Idempotency-Key': 'k-40',
    });
    expect([409, 503]).toContain(otherPath.status); // 503 when no SD3 model is installed: checked before the key
    expect(await jobCount()).toBe(before);
  });

  it('keys are per tenant: another tenant with the same key gets its own job', async () => {
    const body = smallRequest({ seed: 50 });
    const a = await acme.post('/generate/sd', body, { ...ASYNC, 'Idempotency-Key': 'shared-name' });
    const g = await globex.post('/generate/sd', body, { ...ASYNC, 'Idempotency-Key': 'shared-name' });
    expect(a.status).toBe(201);
    expect(g.status).toBe(201);
    expect(g.json.response_id).not.toBe(a.json.response_id);
    expect((await globex.get(`/v1/jobs/${a.json.response_id}`)).status).toBe(404);
  });

  it('a request that failed validation or admission does not burn the key', async () => {
    const bad = await acme.post('/generate/sd', { prompt: 'x', steps: 0 }, { ...ASYNC, 'Idempotency-Key': 'k-60' });
    expect(bad.status).toBe(422);
    const badImage = await acme.post('/generate/sd', smallRequest({ init_image: 'bm90IGFuIGltYWdl' }), {
      ...ASYNC,
      'Idempotency-Key': 'k-61',
    });
    expect(badImage.status).toBe(400);
    const good = await acme.post('/generate/sd', smallRequest({ seed: 61 }), { ...ASYNC, 'Idempotency-Key': 'k-61' });
    expect(good.status, good.text).toBe(201);
  });

  it('rejects an empty or overlong key with 422 naming the header', async () => {
    const long = await acme.post('/generate/sd', smallRequest(), { ...ASYNC, 'Idempotency-Key': 'x'.repeat(257) });
    expect(long.status).toBe(422);
    expect(long.json.detail[0].loc).toEqual(['header', 'idempotency-key']);
  });

  it('concurrent synchronous POSTs with one key wait for the same job and get the same images', async () => {
    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      const body = smallRequest({ prompt: 'five waiting', seed: 80, num_images: 2 });
      const replies = await Promise.all(
        Array.from({ length: 5 }, () => acme.post('/generate/sd', body, { 'Idempotency-Key': 'sync-80' })),
      );
      for (const reply of replies) expect(reply.status, reply.text).toBe(200);
      expect(new Set(replies.map((r) => r.json.id)).size).toBe(1);
      expect(new Set(replies.map((r) => JSON.stringify(r.json.images))).size).toBe(1);
      // An async retry of the same request later: the same job, no new one.
      const later = await acme.post('/generate/sd', body, { ...ASYNC, 'Idempotency-Key': 'sync-80' });
      expect(later.json.response_id).toBe(replies[0]!.json.id);
    } finally {
      await worker.close();
    }
  });

  it('a cancel retried with the same key answers like the first one instead of 409', async () => {
    const job = await acme.post('/generate/sd', smallRequest({ seed: 70 }), ASYNC);
    const id = job.json.response_id;
    const first = await acme.post(`/v1/jobs/${id}/cancel`, undefined, { 'Idempotency-Key': 'cancel-70' });
    expect(first.status).toBe(200);
    const retry = await acme.post(`/v1/jobs/${id}/cancel`, undefined, { 'Idempotency-Key': 'cancel-70' });
    expect(retry.status).toBe(200);
    expect(retry.json).toMatchObject({ id, status: 'canceled' });
    expect((await acme.post(`/v1/jobs/${id}/cancel`)).status).toBe(409);
  });
});
