/**
 * GET /v1/usage over real HTTP, Redis and workers: a job is counted once when it ends, with its
 * images, steps, megapixel-steps and worker time, also when it was retried, when it failed for
 * good after its retries, when its worker was killed mid-render, and when it was canceled.
 */
import { spawn } from 'node:child_process';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '@kiln/config';
import { startRenderWorker, type RenderWorker } from '@kiln/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startHarness, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, type Client } from './tenancy-helpers.js';

const KILN_BIN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

let h: Harness;
let api: Client;
let other: Client;
const meter = newKey('meter', 'acme');
const otherKey = newKey('meter-2', 'acme');

beforeAll(async () => {
  const keysFile = await keysFileWith([meter, otherKey]);
  h = await startHarness(
    { KILN_KEYS_FILE: keysFile, KILN_ALLOW_ANY_RESOLUTION: '1', KILN_HOST: '127.0.0.1', KILN_JOB_LOCK_MS: '2000' },
    { worker: false },
  );
  api = client(h.url, meter.token);
  other = client(h.url, otherKey.token);
});
afterAll(() => h?.stop());

const usageOf = async (c: Client, keyId: string) => {
  const reply = await c.get(`/v1/usage?key_id=${keyId}`);
  expect(reply.status, reply.text).toBe(200);
  return reply.json.totals as Record<string, number>;
};

const waitForStatus = (c: Client, id: string, status: string, timeoutMs = 60_000) =>
  pollUntil(
    async () => {
      const job = (await c.get(`/v1/jobs/${id}`)).json;
      return job.status === status ? job : undefined;
    },
    timeoutMs,
    50,
  );

async function withWorker<T>(fn: (worker: RenderWorker) => Promise<T>): Promise<T> {
  const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
  try {
    return await fn(worker);
  } finally {
    await worker.close();
  }
}

describe('usage', () => {
  it('counts a completed job once: jobs, images, steps, megapixel-steps and worker-seconds', async () => {
    await withWorker(async () => {
      const done = await api.post(
        '/generate/sd',
        smallRequest({ num_images: 2, steps: 4, width: 64, height: 128, seed: [1, 2] }),
      );
      expect(done.status, done.text).toBe(200);
    });
    const totals = await usageOf(api, 'meter');
    expect(totals).toMatchObject({ jobs: 1, jobs_completed: 1, jobs_failed: 0, jobs_canceled: 0, images: 2, steps: 8 });
    expect(totals.megapixel_steps).toBeCloseTo(((64 * 128) / 1e6) * 4 * 2, 6);
    expect(totals.worker_seconds).toBeGreaterThan(0);
    expect(totals.worker_seconds).toBeLessThan(30);

    const reply = (await api.get('/v1/usage')).json;
    const today = new Date().toISOString().slice(0, 10);
    expect(reply.to).toBe(today);
    expect(reply.usage).toEqual([expect.objectContaining({ date: today, key_id: 'meter', jobs: 1, images: 2 })]);
    // The other key of the tenant has nothing yet; per-key numbers stay apart.
    expect((await usageOf(other, 'meter-2')).jobs).toBe(0);
  });

  it('counts a job that failed inside Kiln and was retried once, and one that failed for good once', async () => {
    // A file where the results folder should be: every attempt fails to store its images.
    const blocker = path.join(h.dataDir, 'results');
    await rm(blocker, { recursive: true, force: true });
    await writeFile(blocker, 'not a folder');
    try {
      await withWorker(async () => {
        const doomed = await other.post('/generate/sd', smallRequest({ seed: 7 }), ASYNC);
        const failed = await waitForStatus(other, doomed.json.response_id, 'failed');
        expect(failed.attempts_made).toBe(3);

        const retried = await other.post('/generate/sd', smallRequest({ seed: 8, steps: 3 }), ASYNC);
        const id = retried.json.response_id;
        await pollUntil(
          async () => ((await other.get(`/v1/jobs/${id}`)).json.attempts_made >= 1 ? true : undefined),
          30_000,
          20,
        );
        await rm(blocker);
        const completed = await waitForStatus(other, id, 'completed');
        expect(completed.attempts_made).toBeGreaterThanOrEqual(1);
      });
    } finally {
      // Whatever failed above, the later tests store their images.
      if (
        await stat(blocker).then(
          (entry) => entry.isFile(),
          () => false,
        )
      )
        await rm(blocker);
    }
    const totals = await usageOf(other, 'meter-2');
    expect(totals).toMatchObject({ jobs: 2, jobs_completed: 1, jobs_failed: 1, images: 1, steps: 3 });
    expect(totals.megapixel_steps).toBeCloseTo(((64 * 64) / 1e6) * 3, 6);
  });

  it('counts a job once when its worker process is killed mid-render and another worker finishes it', async () => {
    const before = await usageOf(api, 'meter');
    const child = spawn(process.execPath, [KILN_BIN, 'worker'], {
      env: {
        ...process.env,
        KILN_DATA_DIR: h.config.dataDir,
        KILN_MODELS_DIR: h.config.modelsDir,
        KILN_QUEUE_PREFIX: h.config.queuePrefix,
        KILN_JOB_LOCK_MS: '2000',
        KILN_ALLOW_ANY_RESOLUTION: '1',
        KILN_LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    try {
      const accepted = await api.post('/generate/sd', smallRequest({ steps: 150, seed: 11 }), ASYNC);
      const id = accepted.json.response_id;
      await pollUntil(
        async () => {
          const job = (await api.get(`/v1/jobs/${id}`)).json;
          return job.status === 'running' && job.progress.step >= 3 ? true : undefined;
        },
        60_000,
        20,
      );
      child.kill('SIGKILL');
      await withWorker(() => waitForStatus(api, id, 'completed', 120_000));
    } finally {
      child.kill('SIGKILL');
    }
    const after = await usageOf(api, 'meter');
    expect(after.jobs - before.jobs).toBe(1);
    expect(after.images - before.images).toBe(1);
    expect(after.steps - before.steps).toBe(150);
  });

  it('counts a canceled running job as canceled, with the worker time it used and no images', async () => {
    const before = await usageOf(api, 'meter');
    await withWorker(async () => {
      const accepted = await api.post(
        '/generate/sd',
        smallRequest({ steps: 200, width: 512, height: 512, seed: 12 }),
        ASYNC,
      );
      const id = accepted.json.response_id;
      await pollUntil(
        async () => {
          const job = (await api.get(`/v1/jobs/${id}`)).json;
          return job.status === 'running' && job.progress.step >= 1 ? true : undefined;
        },
        60_000,
        20,
      );
      expect((await api.post(`/v1/jobs/${id}/cancel`)).status).toBe(202);
      await waitForStatus(api, id, 'canceled', 30_000);
    });
    const after = await usageOf(api, 'meter');
    expect(after.jobs - before.jobs).toBe(1);
    expect(after.jobs_canceled - before.jobs_canceled).toBe(1);
    expect(after.images - before.images).toBe(0);
    expect(after.worker_seconds - before.worker_seconds).toBeGreaterThan(0.1);
  });

  it('counts a job canceled while it waited once, with no images and no worker time', async () => {
    const before = await usageOf(other, 'meter-2');
    const queued = await other.post('/generate/sd', smallRequest({ seed: 13 }), ASYNC);
    const id = queued.json.response_id;
    expect((await other.post(`/v1/jobs/${id}/cancel`)).status).toBe(200);
    expect((await other.post(`/v1/jobs/${id}/cancel`)).status).toBe(409);
    const after = await usageOf(other, 'meter-2');
    expect(after.jobs - before.jobs).toBe(1);
    expect(after.jobs_canceled - before.jobs_canceled).toBe(1);
    expect(after.images).toBe(before.images);
    expect(after.worker_seconds).toBe(before.worker_seconds);
  });

  it('validates the range and narrows by day', async () => {
    const bad = await api.get('/v1/usage?from=2025-02-30');
    expect(bad.status).toBe(422);
    expect(bad.json.detail[0].loc).toEqual(['query', 'from']);
    expect((await api.get('/v1/usage?from=2025-01-02&to=2025-01-01')).status).toBe(422);
    expect((await api.get('/v1/usage?from=2020-01-01&to=2025-01-01')).status).toBe(422);
    const past = await api.get('/v1/usage?from=2020-01-01&to=2020-01-31');
    expect(past.json).toMatchObject({ from: '2020-01-01', to: '2020-01-31', usage: [], totals: { jobs: 0 } });
  });
});
