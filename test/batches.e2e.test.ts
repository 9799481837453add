/**
 * Batches over real HTTP, Redis and workers: a 1 000-item JSONL batch with one bad line runs to
 * the end on two workers, its results list every item, its `batch.completed` webhook arrives
 * signed, and resubmitting it renders nothing again.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { startApi } from '@kiln/api';
import { createLogger } from '@kiln/config';
import { generateWebhookSecret } from '@kiln/webhooks';
import { startRenderWorker, type RenderWorker } from '@kiln/worker';
import sharp from 'sharp';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, pollUntil, postJson, startHarness, type Harness } from './harness.js';
import { sha256 } from './tenancy-helpers.js';
import { startReceiver, type Receiver } from './webhook-receiver.js';

const SECRET = generateWebhookSecret();
const JSONL = { 'content-type': 'application/x-ndjson' };

const item = (i: number, extra: Record<string, unknown> = {}) => ({
  custom_id: `item-${i}`,
  url: '/generate/sd',
  body: { prompt: `tiny picture ${i % 7}`, width: 64, height: 64, steps: 1, seed: i, image_encoding: 'png', ...extra },
});

const toJsonl = (items: unknown[]) =>
  items.map((i) => (typeof i === 'string' ? i : JSON.stringify(i))).join('\n') + '\n';

async function post(url: string, body: string | Buffer, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, text, headers: res.headers };
}

async function results(url: string): Promise<any[]> {
  const res = await fetch(url);
  expect(res.headers.get('content-type')).toMatch(/application\/x-ndjson/);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function renderJobCount(h: Harness): Promise<number> {
  const counts = await h.api.deps.queue.getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

describe('a 1 000-item batch on two workers', () => {
  let h: Harness;
  let second: RenderWorker;
  let rx: Receiver;

  beforeAll(async () => {
    rx = await startReceiver();
    h = await startHarness({
      KILN_ALLOW_ANY_RESOLUTION: '1',
      KILN_WEBHOOK_ALLOW_PRIVATE: '1',
      KILN_WEBHOOK_SECRET: SECRET,
      KILN_INTRA_OP_THREADS: '1',
    });
    second = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
  });
  afterAll(async () => {
    await second?.close();
    await h?.stop();
    await rx?.close();
  });

  const items = Array.from({ length: 1000 }, (_, i) => (i === 499 ? item(i, { steps: 0 }) : item(i)));
  const body = toJsonl(items);
  let batchId: string;

  it('answers at once with the batch id and the bad line (line number, custom_id, field)', async () => {
    const started = Date.now();
    const res = await post(`${h.url}/v1/batches?webhook_url=${encodeURIComponent(`${rx.url}/batch`)}`, body, JSONL);
    expect(res.status, res.text).toBe(201);
    expect(Date.now() - started).toBeLessThan(20_000);
    batchId = res.json.id;
    expect(res.json).toMatchObject({
      object: 'batch',
      status: 'in_progress',
      webhook_url: `${rx.url}/batch`,
      webhook_events: ['completed'],
    });
    expect(res.json.counts).toMatchObject({ total: 1000, invalid: 1 });
    expect(res.json.results_url).toBe(`${h.url}/v1/batches/${batchId}/results`);
    expect(res.json.errors).toHaveLength(1);
    expect(res.json.errors[0]).toMatchObject({
      index: 499,
      line: 500,
      custom_id: 'item-499',
      error: { code: 'invalid_request' },
    });
    expect(res.json.errors[0].error.detail[0].loc).toEqual(['body', 'steps']);
  });

  it('runs every item to the end and counts them by state', async () => {
    const done = await pollUntil(
      async () => {
        const b = (await getJson(`${h.url}/v1/batches/${batchId}`)).json;
        return b.status === 'completed' ? b : undefined;
      },
      150_000,
      500,
    );
    expect(done.counts).toEqual({
      total: 1000,
      invalid: 1,
      queued: 0,
      running: 0,
      completed: 999,
      failed: 0,
      canceled: 0,
      reused: 0,
    });
    expect(done.progress).toEqual({ done: 999, total: 999, fraction: 1 });
    expect(Date.parse(done.finished_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at));
  }, 160_000);

  it('sends batch.completed with the results URL, signed', async () => {
    const [message] = await rx.waitFor('/batch', 1);
    const payload = new Webhook(SECRET).verify(message.body, message.headers) as any;
    expect(payload.type).toBe('batch.completed');
    expect(payload.data).toMatchObject({
      id: batchId,
      status: 'completed',
      results_url: `${h.url}/v1/batches/${batchId}/results`,
    });
    expect(payload.data.counts).toMatchObject({ completed: 999, invalid: 1 });
    const log = (await getJson(`${h.url}/v1/batches/${batchId}/webhooks`)).json;
    expect(log.deliveries[0]).toMatchObject({ type: 'batch.completed', status: 'delivered' });
  });

  it('lists one result line per item, in input order, with seeds and image URLs', async () => {
    const lines = await results(`${h.url}/v1/batches/${batchId}/results`);
    expect(lines).toHaveLength(1000);
    expect(lines.map((l) => l.custom_id)).toEqual(items.map((i) => i.custom_id));
    expect(lines[499]).toMatchObject({
      status: 'invalid',
      line: 500,
      job_id: null,
      images: [],
      error: { code: 'invalid_request' },
    });
    const ok = lines.filter((l) => l.status === 'completed');
    expect(ok).toHaveLength(999);
    for (const l of ok) {
      expect(l.seeds).toEqual([l.index]);
      expect(l.images).toHaveLength(1);
      expect(l.images[0]).toMatchObject({ index: 0, seed: l.index, content_type: 'image/png' });
      expect(l.error).toBeNull();
      expect(l.model).toBe('tiny-sd15');
    }
    for (const l of [ok[0], ok[500], ok[998]]) {
      const res = await fetch(l.images[0].url);
      expect(res.status).toBe(200);
      const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
      const job = (await getJson(`${h.url}/v1/jobs/${l.job_id}`)).json;
      expect(job).toMatchObject({ status: 'completed', batch_id: batchId, custom_id: l.custom_id });
    }
    // the items are jobs: GET /v1/jobs lists them by batch
    const listed = (await getJson(`${h.url}/v1/jobs?batch_id=${batchId}&limit=200`)).json;
    expect(listed.jobs).toHaveLength(200);
    expect(listed.jobs.every((j: any) => j.batch_id === batchId && j.status === 'completed')).toBe(true);
    expect(listed.next_cursor).not.toBeNull();
    // the same items, in the order they finished, from an offset (what `kiln batch` polls)
    const finished = await results(`${h.url}/v1/batches/${batchId}/results?order=finished&offset=990`);
    expect(finished).toHaveLength(9);
    expect(finished.every((l) => l.status === 'completed')).toBe(true);
  });

  it('renders nothing again when the same batch is resubmitted', async () => {
    const before = await renderJobCount(h);
    const res = await post(`${h.url}/v1/batches`, body, JSONL);
    expect(res.status, res.text).toBe(201);
    expect(res.json.id).not.toBe(batchId);
    expect(res.json.status).toBe('completed');
    expect(res.json.counts).toEqual({
      total: 1000,
      invalid: 1,
      queued: 0,
      running: 0,
      completed: 999,
      failed: 0,
      canceled: 0,
      reused: 999,
    });
    expect(await renderJobCount(h)).toBe(before);
    const [first, again] = await Promise.all([
      results(`${h.url}/v1/batches/${batchId}/results`),
      results(`${h.url}/v1/batches/${res.json.id}/results`),
    ]);
    expect(again.map((l) => l.job_id)).toEqual(first.map((l) => l.job_id));
    expect(again.filter((l) => l.reused)).toHaveLength(999);
  });

  it('renders only the items whose body changed, and the batch as a JSON document (gzip) works too', async () => {
    const before = await renderJobCount(h);
    const changed = [item(0, { prompt: 'something else' }), item(1), item(2)];
    const res = await post(`${h.url}/v1/batches`, gzipSync(JSON.stringify({ requests: changed })), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(res.status, res.text).toBe(201);
    expect(res.json.counts).toMatchObject({ total: 3, reused: 2 });
    expect(await renderJobCount(h)).toBe(before + 1);
    await pollUntil(async () =>
      (await getJson(`${h.url}/v1/batches/${res.json.id}`)).json.status === 'completed' ? true : undefined,
    );
    const lines = await results(`${h.url}/v1/batches/${res.json.id}/results`);
    expect(lines.map((l) => [l.custom_id, l.status, l.reused])).toEqual([
      ['item-0', 'completed', false],
      ['item-1', 'completed', true],
      ['item-2', 'completed', true],
    ]);
  });
});

describe('canceling a batch while its items run', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1', KILN_INTRA_OP_THREADS: '1' });
  });
  afterAll(() => h?.stop());

  it('stops the running item at its next step and cancels the queued ones', async () => {
    const slow = Array.from({ length: 6 }, (_, i) => item(300 + i, { steps: 200, width: 192, height: 192 }));
    const res = await post(`${h.url}/v1/batches`, toJsonl(slow), JSONL);
    expect(res.status, res.text).toBe(201);
    const id = res.json.id;
    await pollUntil(
      async () => ((await getJson(`${h.url}/v1/batches/${id}`)).json.counts.running === 1 ? true : undefined),
      30_000,
      20,
    );
    const asked = Date.now();
    const canceled = await postJson(`${h.url}/v1/batches/${id}/cancel`, {});
    expect(canceled.status, canceled.text).toBe(200);
    expect(['canceling', 'canceled']).toContain(canceled.json.status);
    const done = await pollUntil(
      async () => {
        const b = (await getJson(`${h.url}/v1/batches/${id}`)).json;
        return b.status === 'canceled' ? b : undefined;
      },
      30_000,
      20,
    );
    expect(Date.now() - asked).toBeLessThan(5_000);
    // the item that was running did not finish its 200 steps: it was stopped
    expect(done.counts).toMatchObject({ queued: 0, running: 0, completed: 0, canceled: 6 });
    const lines = await results(`${h.url}/v1/batches/${id}/results`);
    expect(lines.every((l) => l.status === 'canceled' && l.error.code === 'canceled')).toBe(true);
  });
});

describe('a batch survives restarts', () => {
  it('runs to the end across a worker replaced mid-batch, and a new API process serves it', async () => {
    const h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1', KILN_INTRA_OP_THREADS: '1' }, { worker: false });
    const logger = createLogger('test', 'silent');
    let worker = await startRenderWorker({ config: h.config, logger });
    let api2: Awaited<ReturnType<typeof startApi>> | undefined;
    try {
      const res = await post(
        `${h.url}/v1/batches`,
        toJsonl(Array.from({ length: 60 }, (_, i) => item(400 + i))),
        JSONL,
      );
      expect(res.status, res.text).toBe(201);
      const id = res.json.id;
      await pollUntil(
        async () => ((await getJson(`${h.url}/v1/batches/${id}`)).json.counts.completed >= 10 ? true : undefined),
        30_000,
        20,
      );
      await worker.close(); // finishes (or hands back) its current item
      const midway = (await getJson(`${h.url}/v1/batches/${id}`)).json;
      expect(midway.status).toBe('in_progress');
      expect(midway.counts.completed).toBeLessThan(60);
      worker = await startRenderWorker({ config: h.config, logger });
      api2 = await startApi({ config: h.config, logger });
      const done = await pollUntil(
        async () => {
          const b = (await getJson(`${api2!.url}/v1/batches/${id}`)).json;
          return b.status === 'completed' ? b : undefined;
        },
        60_000,
        50,
      );
      expect(done.counts).toMatchObject({ total: 60, completed: 60, failed: 0, queued: 0, running: 0 });
      const lines = await results(`${api2.url}/v1/batches/${id}/results`);
      expect(new Set(lines.map((l) => l.job_id)).size).toBe(60);
      expect(lines.every((l) => l.status === 'completed')).toBe(true);
    } finally {
      await api2?.close();
      await worker.close();
      await h.stop();
    }
  });
});

describe('batch uploads that are refused, idempotency and cancel (no worker)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(
      { KILN_ALLOW_ANY_RESOLUTION: '1', KILN_BATCH_MAX_ITEMS: '20', KILN_BATCH_MAX_BODY_BYTES: '8192' },
      { worker: false },
    );
  });
  afterAll(() => h?.stop());

  it('refuses too many items or bytes with 413 and keeps nothing', async () => {
    const tooMany = await post(`${h.url}/v1/batches`, toJsonl(Array.from({ length: 21 }, (_, i) => item(i))), JSONL);
    expect(tooMany.status).toBe(413);
    expect(tooMany.json.error).toMatchObject({
      code: 'payload_too_large',
      message: expect.stringMatching(/at most 20 items/),
    });
    const tooBig = await post(
      `${h.url}/v1/batches`,
      toJsonl(Array.from({ length: 5 }, (_, i) => item(i, { prompt: 'x'.repeat(2000) }))),
      JSONL,
    );
    expect(tooBig.status).toBe(413);
    expect((await getJson(`${h.url}/v1/batches`)).json.batches).toEqual([]);
    expect(await renderJobCount(h)).toBe(0);
  });

  it('refuses bodies that are not batches', async () => {
    expect((await post(`${h.url}/v1/batches`, 'hello', { 'content-type': 'text/plain' })).status).toBe(415);
    const broken = await post(`${h.url}/v1/batches`, '{"requests": [', { 'content-type': 'application/json' });
    expect(broken.status).toBe(422);
    expect(broken.json.error.message).toMatch(/requests/);
    const allBad = await post(
      `${h.url}/v1/batches`,
      toJsonl(['not json', { custom_id: 'x', url: '/generate/xl', body: {} }]),
      JSONL,
    );
    expect(allBad.status).toBe(422);
    expect(allBad.json.error.message).toMatch(/none of the 2 items is valid/);
    const empty = await post(`${h.url}/v1/batches`, '\n\n', JSONL);
    expect(empty.status).toBe(422);
  });

  it('reports every kind of bad line and queues the rest', async () => {
    const lines = [
      item(0),
      '{"custom_id": "broken", ',
      { custom_id: 'no-url', body: {} },
      item(0), // duplicate custom_id
      { ...item(4), url: '/generate/sd3' }, // no SD3 model here
      { custom_id: 'extra', url: '/generate/sd', body: { prompt: 'x', bogus: 1 } },
      { custom_id: 'webhook', url: '/generate/sd', body: { prompt: 'x', webhook_url: 'http://127.0.0.1:1/' } },
    ];
    const res = await post(`${h.url}/v1/batches`, toJsonl(lines), JSONL);
    expect(res.status, res.text).toBe(201);
    expect(res.json.counts).toMatchObject({ total: 7, invalid: 6, queued: 1 });
    const byLine = Object.fromEntries(res.json.errors.map((e: any) => [e.line, e]));
    expect(byLine[2]).toMatchObject({
      custom_id: null,
      error: { message: expect.stringMatching(/line 2 is not valid JSON/) },
    });
    expect(byLine[3]).toMatchObject({ custom_id: 'no-url' });
    expect(byLine[3].error.detail[0].loc).toEqual(['url']);
    expect(byLine[4].error.message).toMatch(/already used on line 1/);
    expect(byLine[5]).toMatchObject({ custom_id: 'item-4', error: { code: 'model_unavailable' } });
    expect(byLine[6].error.detail[0]).toMatchObject({ loc: ['body', 'bogus'], type: 'extra_forbidden' });
    expect(byLine[7].error.message).toMatch(/webhook_url/);
  });

  it('returns the same batch for the same Idempotency-Key and body, 409 for another body', async () => {
    const body = toJsonl([item(100), item(101)]);
    const headers = { ...JSONL, 'Idempotency-Key': 'batch-key-1' };
    const first = await post(`${h.url}/v1/batches`, body, headers);
    const again = await post(`${h.url}/v1/batches`, body, headers);
    expect(first.status).toBe(201);
    expect(again.status).toBe(201);
    expect(again.json.id).toBe(first.json.id);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await post(`${h.url}/v1/batches`, toJsonl([item(102)]), headers);
    expect(other.status).toBe(409);
  });

  it('cancels every item not yet done', async () => {
    const res = await post(`${h.url}/v1/batches`, toJsonl(Array.from({ length: 10 }, (_, i) => item(200 + i))), JSONL);
    expect(res.json.counts.queued).toBe(10);
    const canceled = await postJson(`${h.url}/v1/batches/${res.json.id}/cancel`, {});
    expect(canceled.status, canceled.text).toBe(200);
    expect(canceled.json.status).toBe('canceled');
    expect(canceled.json.counts).toMatchObject({ queued: 0, canceled: 10 });
    const lines = await results(`${h.url}/v1/batches/${res.json.id}/results`);
    expect(lines.map((l) => l.status)).toEqual(Array(10).fill('canceled'));
    expect((await getJson(`${h.url}/v1/jobs/${lines[3].job_id}`)).json.status).toBe('canceled');
    const twice = await postJson(`${h.url}/v1/batches/${res.json.id}/cancel`, {});
    expect(twice.status).toBe(409);
    expect((await getJson(`${h.url}/v1/batches/nope`)).status).toBe(404);
  });
});

describe("a key's max_queued_jobs applies to batch items", () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-batch-keys-'));
    const file = path.join(dir, 'keys.json');
    await writeFile(
      file,
      JSON.stringify({ keys: [{ id: 'k5', tenant: 'five', token_sha256: sha256('five-token'), max_queued_jobs: 5 }] }),
    );
    h = await startHarness(
      { KILN_KEYS_FILE: file, KILN_HOST: '127.0.0.1', KILN_ALLOW_ANY_RESOLUTION: '1' },
      { worker: false },
    );
  });
  afterAll(async () => {
    await h?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('queues what fits, refuses the rest with queue_full, and refuses a batch of which nothing fits with 503', async () => {
    const auth = { ...JSONL, authorization: 'Bearer five-token' };
    const res = await post(`${h.url}/v1/batches`, toJsonl(Array.from({ length: 8 }, (_, i) => item(i))), auth);
    expect(res.status, res.text).toBe(201);
    expect(res.json.counts).toMatchObject({ total: 8, queued: 5, invalid: 3 });
    expect(res.json.errors.map((e: any) => [e.custom_id, e.error.code])).toEqual([
      ['item-5', 'queue_full'],
      ['item-6', 'queue_full'],
      ['item-7', 'queue_full'],
    ]);
    const full = await post(`${h.url}/v1/batches`, toJsonl([item(50)]), auth);
    expect(full.status).toBe(503);
    expect(full.json.error.code).toBe('queue_full');
    expect(full.headers.get('retry-after')).toBeTruthy();
    expect(await renderJobCount(h)).toBe(5);
  });
});
