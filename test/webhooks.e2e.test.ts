/**
 * Webhooks over real HTTP: a real receiver, the real API and worker, real Redis and the real
 * BullMQ delivery queue. Signatures are checked with `standardwebhooks`, the spec's reference
 * implementation (the same library a receiver would use).
 */
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRedis } from '@kiln/queue';
import { createWebhookQueue, generateWebhookSecret, readAttempts } from '@kiln/webhooks';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, pollUntil, postJson, startHarness, tinyModelsDir, type Harness } from './harness.js';
import { client, sha256 } from './tenancy-helpers.js';
import { startReceiver, type Receiver } from './webhook-receiver.js';

const SECRET = generateWebhookSecret();
const BASE_MS = 200;
const small = (extra: Record<string, unknown> = {}) => ({
  prompt: 'a hook',
  width: 64,
  height: 64,
  steps: 2,
  seed: 3,
  image_encoding: 'png',
  ...extra,
});
const ASYNC = { 'X-OctoAI-Async': '1' };

let h: Harness;
let rx: Receiver;
let modelsDir: string;

beforeAll(async () => {
  rx = await startReceiver();
  // The tiny model, plus one whose UNet is not an ONNX file: rendering with it fails inside Kiln (retried).
  modelsDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-hook-models-'));
  await symlink(path.join(await tinyModelsDir(), 'tiny-sd15'), path.join(modelsDir, 'tiny-sd15'));
  await cp(path.join(await tinyModelsDir(), 'tiny-sd15'), path.join(modelsDir, 'broken'), { recursive: true });
  await writeFile(path.join(modelsDir, 'broken', 'unet', 'model.onnx'), 'this is not onnx');
  h = await startHarness({
    KILN_MODELS_DIR: modelsDir,
    KILN_ALLOW_ANY_RESOLUTION: '1',
    KILN_WEBHOOK_ALLOW_PRIVATE: '1', // the receiver is on 127.0.0.1
    KILN_WEBHOOK_SECRET: SECRET,
    KILN_WEBHOOK_BACKOFF_MS: String(BASE_MS),
    KILN_WEBHOOK_ATTEMPTS: '5',
    KILN_WEBHOOK_TIMEOUT_MS: '700',
    KILN_JOB_ATTEMPTS: '2',
  });
});
afterAll(async () => {
  await h?.stop();
  await rx?.close();
  await rm(modelsDir, { recursive: true, force: true });
});

const verifier = () => new Webhook(SECRET);
const bodyOf = (r: { body: string }) => JSON.parse(r.body);

describe('webhook delivery (Standard Webhooks, real receiver)', () => {
  it('retries a receiver that fails the first 3 deliveries, then delivers a correctly signed message', async () => {
    rx.behave('/flaky', { failFirst: 3 });
    const accepted = await postJson(`${h.url}/generate/sd`, small({ webhook_url: `${rx.url}/flaky` }), ASYNC);
    expect(accepted.status, accepted.text).toBe(201);
    const jobId = accepted.json.response_id;

    const attempts = await rx.waitFor('/flaky', 4);
    expect(attempts.map((a) => a.answered)).toEqual([500, 500, 500, 200]);
    // the same message every time: one webhook-id, the same body; a fresh timestamp and signature per attempt
    expect(new Set(attempts.map((a) => a.headers['webhook-id'])).size).toBe(1);
    expect(new Set(attempts.map((a) => a.body)).size).toBe(1);
    // exponential backoff: waits of about base, 2·base, 4·base
    const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i].at);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(BASE_MS * 2 ** i - 50));

    const delivered = attempts[3];
    const payload = verifier().verify(delivered.body, delivered.headers) as any;
    expect(payload.type).toBe('job.completed');
    expect(payload.data).toMatchObject({ id: jobId, status: 'completed', seeds: [3], error: null });
    expect(delivered.headers['content-type']).toBe('application/json');
    expect(delivered.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    // a tampered body, or another secret, does not verify
    const tampered = delivered.body.replace('"completed"', '"failed"');
    expect(tampered).not.toBe(delivered.body);
    expect(() => verifier().verify(tampered, delivered.headers)).toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(delivered.body, delivered.headers)).toThrow();
    // the links in the payload work when it arrives: the job is completed and the image is served
    const image = await fetch(payload.data.images[0].url);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/png');

    // every attempt is visible on the job
    const log = await pollUntil(async () => {
      const res = await getJson(`${h.url}/v1/jobs/${jobId}/webhooks`);
      return res.json.deliveries?.[0]?.status === 'delivered' ? res.json : undefined;
    });
    expect(log.id).toBe(jobId);
    expect(log.deliveries).toHaveLength(1);
    const [delivery] = log.deliveries;
    expect(delivery).toMatchObject({
      webhook_id: delivered.headers['webhook-id'],
      type: 'job.completed',
      url: `${rx.url}/flaky`,
    });
    expect(delivery.attempts.map((a: any) => [a.attempt, a.status_code, a.error])).toEqual([
      [1, 500, null],
      [2, 500, null],
      [3, 500, null],
      [4, 200, null],
    ]);
    for (const a of delivery.attempts) {
      expect(Date.parse(a.at)).toBeGreaterThan(0);
      expect(a.duration_ms).toBeGreaterThanOrEqual(0);
    }
    expect(delivery.attempts.slice(0, 3).every((a: any) => a.next_attempt_at !== null)).toBe(true);
    expect(delivery.attempts[3].next_attempt_at).toBeNull();
  });

  it('sends started, progress (at most 2 per second) and completed, in that order', async () => {
    const accepted = await postJson(
      `${h.url}/generate/sd`,
      small({
        steps: 200,
        width: 384,
        height: 384,
        webhook_url: `${rx.url}/all`,
        webhook_events: ['started', 'progress', 'completed'],
      }),
      ASYNC,
    );
    const jobId = accepted.json.response_id;
    await pollUntil(
      async () => (rx.at('/all').some((r) => bodyOf(r).type === 'job.completed') ? true : undefined),
      60_000,
    );
    const events = rx
      .at('/all')
      .map((r) => verifier().verify(r.body, r.headers) as any)
      .sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    expect(events.every((e) => e.data.id === jobId)).toBe(true);
    expect(events[0].type).toBe('job.started');
    expect(events.at(-1).type).toBe('job.completed');
    const progress = events.filter((e) => e.type === 'job.progress');
    const times = progress.map((e) => Date.parse(e.timestamp));
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(500);
    const job = (await getJson(`${h.url}/v1/jobs/${jobId}`)).json;
    const seconds = (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000;
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(seconds * 2) + 1);
    // 200 steps at 384×384 take seconds even on a quiet machine: several progress events, each one's step further on
    expect(seconds).toBeGreaterThan(1.2);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const e of progress) expect(e.data.progress.total_steps).toBe(200);
    const steps = progress.map((e) => e.data.progress.step);
    expect([...steps].sort((x, y) => x - y)).toEqual(steps);
  });

  it('sends failed only when the job has failed for good, not on an attempt that is retried', async () => {
    const accepted = await postJson(
      `${h.url}/generate/sd`,
      small({
        checkpoint: 'broken',
        webhook_url: `${rx.url}/fails`,
        webhook_events: ['started', 'failed', 'completed'],
      }),
      ASYNC,
    );
    const jobId = accepted.json.response_id;
    const failed = await pollUntil(async () => rx.at('/fails').find((r) => bodyOf(r).type === 'job.failed'), 60_000);
    const job = (await getJson(`${h.url}/v1/jobs/${jobId}`)).json;
    expect(job.status).toBe('failed');
    expect(job.attempts_made).toBe(2);
    const types = rx.at('/fails').map((r) => bodyOf(r).type);
    expect(types.filter((t) => t === 'job.failed')).toHaveLength(1);
    expect(types.filter((t) => t === 'job.started')).toHaveLength(1); // a message id per event: the retry's start is the same message
    expect(types).not.toContain('job.completed');
    const payload = verifier().verify(failed.body, failed.headers) as any;
    expect(payload.data).toMatchObject({ id: jobId, status: 'failed', error: { code: 'internal_error' } });
  });

  it('sends canceled for a job canceled while it waits', async () => {
    // keep the worker busy so that the next job waits
    const blocker = await postJson(`${h.url}/generate/sd`, small({ steps: 150 }), ASYNC);
    const accepted = await postJson(
      `${h.url}/generate/sd`,
      small({ webhook_url: `${rx.url}/canceled`, webhook_events: ['canceled', 'completed'] }),
      ASYNC,
    );
    const jobId = accepted.json.response_id;
    const canceled = await postJson(`${h.url}/v1/jobs/${jobId}/cancel`, {});
    expect(canceled.status, canceled.text).toBe(200);
    const [message] = await rx.waitFor('/canceled', 1);
    expect(verifier().verify(message.body, message.headers)).toMatchObject({
      type: 'job.canceled',
      data: { id: jobId, status: 'canceled' },
    });
    await postJson(`${h.url}/v1/jobs/${blocker.json.response_id}/cancel`, {});
  });

  it('does not follow redirects, and gives up an attempt that takes longer than the timeout', async () => {
    rx.behave('/moved', { redirectTo: `${rx.url}/elsewhere` });
    rx.behave('/hang', { hang: true });
    const moved = await postJson(`${h.url}/generate/sd`, small({ webhook_url: `${rx.url}/moved` }), ASYNC);
    const hung = await postJson(`${h.url}/generate/sd`, small({ webhook_url: `${rx.url}/hang` }), ASYNC);
    await rx.waitFor('/moved', 2);
    await rx.waitFor('/hang', 2);
    expect(rx.at('/elsewhere')).toHaveLength(0);
    const movedLog = (await getJson(`${h.url}/v1/jobs/${moved.json.response_id}/webhooks`)).json.deliveries[0];
    expect(movedLog.attempts[0]).toMatchObject({ attempt: 1, status_code: 302 });
    const hungLog = await pollUntil(async () => {
      const d = (await getJson(`${h.url}/v1/jobs/${hung.json.response_id}/webhooks`)).json.deliveries[0];
      return d?.attempts.length ? d : undefined;
    });
    expect(hungLog.attempts[0]).toMatchObject({
      attempt: 1,
      status_code: null,
      error: expect.stringMatching(/timeout after 700 ms/),
    });
    expect(hungLog.attempts[0].duration_ms).toBeGreaterThanOrEqual(650);
    expect(hungLog.status).toBe('pending');
  });

  it('answers 404 for the webhooks of a job that does not exist', async () => {
    expect((await getJson(`${h.url}/v1/jobs/nope/webhooks`)).status).toBe(404);
  });
});

describe('webhook targets: private addresses and secrets', () => {
  let strict: Harness;
  beforeAll(async () => {
    strict = await startHarness({
      KILN_ALLOW_ANY_RESOLUTION: '1',
      KILN_WEBHOOK_SECRET: SECRET,
      KILN_WEBHOOK_BACKOFF_MS: '100',
    });
  });
  afterAll(() => strict?.stop());

  it.each([
    'http://127.0.0.1:9/x',
    'http://localhost:8080/x',
    'http://[::1]/x',
    'http://169.254.169.254/latest',
    'http://10.1.2.3/x',
    'http://[::ffff:192.168.0.1]/x',
  ])('refuses %s at submit time with 422 naming webhook_url', async (url) => {
    const res = await postJson(`${strict.url}/generate/sd`, small({ webhook_url: url }), ASYNC);
    expect(res.status).toBe(422);
    expect(res.json.detail[0].loc).toEqual(['body', 'webhook_url']);
    expect(res.json.error.code).toBe('invalid_request');
    expect(res.json.error.message).toMatch(/private|loopback/);
  });

  it('checks the address again at delivery time, and does not retry a refused one', async () => {
    const redis = createRedis(strict.config.redisUrl);
    const queue = createWebhookQueue(redis, { prefix: strict.config.queuePrefix, attempts: 5, backoffMs: 100 });
    try {
      await queue.add(
        'job.completed',
        {
          id: 'msg_direct_1',
          url: `${rx.url}/direct`,
          keyId: 'local',
          type: 'job.completed',
          subject: { kind: 'job', id: 'direct-1' },
          body: '{"type":"job.completed"}',
        },
        { jobId: 'msg_direct_1' },
      );
      const log = await pollUntil(async () => {
        const records = await readAttempts(redis, strict.config.queuePrefix, { kind: 'job', id: 'direct-1' });
        return records.some((r) => r.outcome === 'failed') ? records : undefined;
      });
      expect(log).toHaveLength(1);
      expect(log[0]).toMatchObject({
        attempt: 1,
        status_code: null,
        outcome: 'failed',
        error: expect.stringMatching(/^refused: .*127\.0\.0\.1/),
      });
      expect(rx.at('/direct')).toHaveLength(0);
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });

  it('refuses webhook_url in local mode without KILN_WEBHOOK_SECRET, naming the setting', async () => {
    const noSecret = await startHarness(
      { KILN_ALLOW_ANY_RESOLUTION: '1', KILN_WEBHOOK_ALLOW_PRIVATE: '1' },
      { worker: false },
    );
    try {
      const res = await postJson(`${noSecret.url}/generate/sd`, small({ webhook_url: `${rx.url}/x` }), ASYNC);
      expect(res.status).toBe(422);
      expect(res.json.detail[0].loc).toEqual(['body', 'webhook_url']);
      expect(res.json.error.message).toMatch(/KILN_WEBHOOK_SECRET/);
    } finally {
      await noSecret.stop();
    }
  });
});

describe('webhooks with API keys', () => {
  let keyed: Harness;
  let keysDir: string;
  const secretA = generateWebhookSecret();
  const tokens = { a: 'token-tenant-a-webhooks', b: 'token-tenant-b-webhooks', n: 'token-no-secret' };

  beforeAll(async () => {
    keysDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-hook-keys-'));
    const file = path.join(keysDir, 'keys.json');
    await writeFile(
      file,
      JSON.stringify({
        keys: [
          { id: 'ka', tenant: 'acme', token_sha256: sha256(tokens.a), webhook_secret: secretA },
          { id: 'kb', tenant: 'globex', token_sha256: sha256(tokens.b), webhook_secret: generateWebhookSecret() },
          { id: 'kn', tenant: 'initech', token_sha256: sha256(tokens.n) },
        ],
      }),
    );
    keyed = await startHarness({
      KILN_KEYS_FILE: file,
      KILN_HOST: '127.0.0.1',
      KILN_ALLOW_ANY_RESOLUTION: '1',
      KILN_WEBHOOK_ALLOW_PRIVATE: '1',
      KILN_WEBHOOK_BACKOFF_MS: '100',
    });
  });
  afterAll(async () => {
    await keyed?.stop();
    await rm(keysDir, { recursive: true, force: true });
  });

  it("signs with the key's own webhook_secret, and shows the attempts to that tenant only", async () => {
    const a = client(keyed.url, tokens.a);
    const b = client(keyed.url, tokens.b);
    const accepted = await a.post('/generate/sd', small({ webhook_url: `${rx.url}/keyed` }), ASYNC);
    expect(accepted.status, accepted.text).toBe(201);
    const [message] = await rx.waitFor('/keyed', 1);
    expect(new Webhook(secretA).verify(message.body, message.headers)).toMatchObject({ type: 'job.completed' });
    expect(() => new Webhook(SECRET).verify(message.body, message.headers)).toThrow();
    const id = accepted.json.response_id;
    await pollUntil(async () =>
      (await a.get(`/v1/jobs/${id}/webhooks`)).json.deliveries?.[0]?.status === 'delivered' ? true : undefined,
    );
    const other = await b.get(`/v1/jobs/${id}/webhooks`);
    expect(other.status).toBe(404);
    expect(other.json.error.code).toBe('not_found');
  });

  it('refuses webhook_url for a key without a webhook_secret', async () => {
    const res = await client(keyed.url, tokens.n).post('/generate/sd', small({ webhook_url: `${rx.url}/x` }), ASYNC);
    expect(res.status).toBe(422);
    expect(res.json.detail[0].loc).toEqual(['body', 'webhook_url']);
    expect(res.json.error.message).toMatch(/kn has no usable webhook_secret/);
  });
});
