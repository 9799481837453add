/**
 * Retries never duplicate work (issue 11, item 4) over real HTTP and Redis: identical synchronous
 * POSTs from one caller while the first one's job is open make one job, whose result every one of
 * them gets; once it has ended (even with nobody waiting to release it), the same request renders
 * anew. Async requests, `X-Kiln-Dedupe: off`, another API key and an `Idempotency-Key` each opt out.
 * The SDK's own retries are in octoai-sdk.e2e.test.ts.
 */
import { createLogger } from '@kiln/config';
import { startRenderWorker, type RenderWorker } from '@kiln/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, type Client } from './tenancy-helpers.js';

let h: Harness;
let acme: Client;
let acme2: Client;
const acmeKey = newKey('acme-1', 'acme');
const acmeOtherKey = newKey('acme-2', 'acme');

beforeAll(async () => {
  const keysFile = await keysFileWith([acmeKey, acmeOtherKey]);
  // No worker until a test starts one: jobs stay queued, so the queue shows what the POSTs made.
  h = await startHarness(
    { KILN_KEYS_FILE: keysFile, KILN_ALLOW_ANY_RESOLUTION: '1', KILN_HOST: '127.0.0.1', KILN_SYNC_TIMEOUT_MS: '1500' },
    { worker: false },
  );
  acme = client(h.url, acmeKey.token);
  acme2 = client(h.url, acmeOtherKey.token);
});
let worker: RenderWorker | undefined;
afterAll(async () => {
  await worker?.close();
  await h?.stop();
});

const jobIds = async (c: Client = acme): Promise<string[]> =>
  (await c.get('/v1/jobs?limit=200')).json.jobs.map((j: { id: string }) => j.id);

describe('a retried synchronous request attaches to the open job', () => {
  let twentyJob = '';

  it('20 concurrent identical sync POSTs make one job; every one answers with it', async () => {
    const before = await jobIds();
    // Nulls and defaults spelled out, keys in another order: the same request once normalised.
    const body = smallRequest({ prompt: 'twenty at once' });
    const spelled = { negative_prompt: null, cfg_scale: 12, ...Object.fromEntries(Object.entries(body).reverse()) };
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => acme.post('/generate/sd', i % 2 ? body : spelled)),
    );
    // No worker: every wait runs out (504), each naming the one job.
    for (const reply of replies) expect(reply.status, reply.text).toBe(504);
    const ids = new Set(replies.map((r) => r.json.error.job_id));
    expect(ids.size).toBe(1);
    const created = (await jobIds()).filter((id) => !before.includes(id));
    expect(created).toEqual([...ids]);
    expect(replies.filter((r) => r.headers.get('x-kiln-dedupe') === 'attached')).toHaveLength(19);
    twentyJob = [...ids][0]!;
  });

  it('opt-outs make jobs of their own: async, X-Kiln-Dedupe: off, an Idempotency-Key, another key', async () => {
    const body = smallRequest({ prompt: 'opt out' });
    const first = await acme.post('/generate/sd', body);
    expect(first.status).toBe(504);
    const before = await jobIds();
    const replies = await Promise.all([
      acme.post('/generate/sd', body, ASYNC),
      acme.post('/generate/sd', body, ASYNC),
      acme.post('/generate/sd', body, { 'X-Kiln-Dedupe': 'off' }),
      acme.post('/generate/sd', body, { 'Idempotency-Key': 'opt-out-1' }),
      acme2.post('/generate/sd', body),
    ]);
    const ids = replies.map((r) => r.json.response_id ?? r.json.error.job_id);
    expect(new Set([...ids, first.json.error.job_id]).size).toBe(6);
    expect((await jobIds()).filter((id) => !before.includes(id))).toHaveLength(5);
    for (const reply of replies) expect(reply.headers.get('x-kiln-dedupe')).toBeNull();
  });

  it('a different body is another request', async () => {
    const a = await acme.post('/generate/sd', smallRequest({ prompt: 'one', seed: 1 }));
    const b = await acme.post('/generate/sd', smallRequest({ prompt: 'one', seed: 2 }));
    expect(a.json.error.job_id).not.toBe(b.json.error.job_id);
  });

  it('a retry after a 504 gets the result once a worker renders the job; then the request renders anew', async () => {
    const body = smallRequest({ prompt: 'retried until done' });
    const before = await jobIds();
    const timedOut = await acme.post('/generate/sd', body);
    expect(timedOut.status).toBe(504);
    const jobId = timedOut.json.error.job_id;
    // The worker should render this job, not the ones the tests above left queued.
    for (const id of await jobIds()) if (id !== jobId) await acme.post(`/v1/jobs/${id}/cancel`);
    worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    // A client that retries each 504 (the first render loads the model) until it gets the images.
    let answered = await acme.post('/generate/sd', body);
    for (let retries = 0; answered.status === 504 && retries < 20; retries++) {
      expect(answered.json.error.job_id).toBe(jobId);
      answered = await acme.post('/generate/sd', body);
    }
    expect(answered.status, answered.text).toBe(200);
    expect(answered.json.id).toBe(jobId);
    expect(answered.headers.get('x-kiln-dedupe')).toBe('attached');
    // The job has ended: the same request is new work now.
    const again = await acme.post('/generate/sd', body);
    expect(again.status, again.text).toBe(200);
    expect(again.json.id).not.toBe(jobId);
    expect(again.headers.get('x-kiln-dedupe')).toBeNull();
    expect((await jobIds()).filter((id) => !before.includes(id))).toEqual([again.json.id, jobId]);
  });

  it('a record whose job ended while nobody waited (canceled above) no longer attaches', async () => {
    expect((await acme.get(`/v1/jobs/${twentyJob}`)).json.status).toBe('canceled');
    const again = await acme.post('/generate/sd', smallRequest({ prompt: 'twenty at once' }));
    expect(again.status, again.text).toBe(200);
    expect(again.json.id).not.toBe(twentyJob);
  });
});
