/**
 * POST /v1/jobs/{id}/cancel over real HTTP, Redis and workers: a waiting job ends `canceled` at
 * once and is never rendered; a running job, rendered by a worker in another process, stops at
 * its next denoising step; a finished job answers 409.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createLogger } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startHarness, type Harness } from './harness.js';
import { ASYNC, client, smallRequest, type Client } from './tenancy-helpers.js';

const KILN_BIN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

let h: Harness;
let api: Client;
beforeAll(async () => {
  h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1' }, { worker: false });
  api = client(h.url);
});
afterAll(() => h?.stop());

const jobOf = async (id: string) => (await api.get(`/v1/jobs/${id}`)).json;

describe('POST /v1/jobs/{id}/cancel', () => {
  it('cancels a waiting job at once; it is never rendered, and a sync caller waiting for it is told', async () => {
    const first = await api.post('/generate/sd', smallRequest({ seed: 1 }), ASYNC);
    expect(first.status).toBe(201);
    const id = first.json.response_id as string;
    expect(await jobOf(id)).toMatchObject({ status: 'queued', queue_position: 0, cancel_requested: false });

    // A synchronous request for another job, waiting on the open connection.
    const syncReply = api.post('/generate/sd', smallRequest({ seed: 2 }));
    const syncJob = await pollUntil(async () => {
      const list = await api.get('/v1/jobs?status=queued');
      return list.json.jobs.find((j: any) => j.id !== id);
    });

    const canceled = await api.post(`/v1/jobs/${id}/cancel`);
    expect(canceled.status, canceled.text).toBe(200);
    expect(canceled.json).toMatchObject({
      id,
      status: 'canceled',
      queue_position: null,
      started_at: null,
      error: { code: 'canceled' },
    });
    expect(Date.parse(canceled.json.finished_at)).toBeGreaterThan(0);
    const octoStatus = (await api.get(`/v1/requests/${id}`)).json;
    expect(octoStatus.status).toBe('canceled');
    expect(octoStatus.error.code).toBe('canceled');
    const response = await api.get(`/v1/responses/${id}`);
    expect(response.status).toBe(409);
    expect(response.json.error.code).toBe('canceled');

    // The other waiting job moved up the queue.
    expect((await jobOf(syncJob.id)).queue_position).toBe(0);
    expect((await api.post(`/v1/jobs/${syncJob.id}/cancel`)).status).toBe(200);
    const sync = await syncReply;
    expect(sync.status).toBe(409);
    expect(sync.json.error).toMatchObject({ code: 'canceled', job_id: syncJob.id });

    const again = await api.post(`/v1/jobs/${id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.json.error.code).toBe('conflict');

    // A worker arrives: it renders new work and never touches the canceled jobs.
    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      const after = await api.post('/generate/sd', smallRequest({ seed: 3 }));
      expect(after.status, after.text).toBe(200);
      for (const canceledId of [id, syncJob.id]) {
        expect(await jobOf(canceledId)).toMatchObject({
          status: 'canceled',
          attempts_made: 0,
          started_at: null,
          images: [],
        });
      }
      expect(await h.api.deps.queue.getJobCounts('wait', 'prioritized', 'active', 'failed')).toEqual({
        wait: 0,
        prioritized: 0,
        active: 0,
        failed: 2,
      });
    } finally {
      await worker.close();
    }
  });

  it('stops a running job at its next denoising step, in a worker process of its own', async () => {
    const child: ChildProcess = spawn(process.execPath, [KILN_BIN, 'worker'], {
      env: {
        ...process.env,
        KILN_DATA_DIR: h.config.dataDir,
        KILN_MODELS_DIR: h.config.modelsDir,
        KILN_QUEUE_PREFIX: h.config.queuePrefix,
        KILN_ALLOW_ANY_RESOLUTION: '1',
        KILN_LOG_LEVEL: 'silent',
      },
      stdio: 'ignore',
    });
    try {
      // 200 steps at 512×512: about half a minute of rendering if nothing stopped it.
      const accepted = await api.post('/generate/sd', { prompt: 'a long job', steps: 200, seed: 9 }, ASYNC);
      const id = accepted.json.response_id as string;
      const running = await pollUntil(
        async () => {
          const job = await jobOf(id);
          return job.status === 'running' && job.progress.step >= 2 ? job : undefined;
        },
        90_000,
        50,
      );
      expect(running.progress.total_steps).toBe(200);

      const requestedAt = Date.now();
      const cancel = await api.post(`/v1/jobs/${id}/cancel`);
      expect(cancel.status, cancel.text).toBe(202);
      expect(cancel.json).toMatchObject({ id, status: 'running', cancel_requested: true });

      const done = await pollUntil(
        async () => {
          const job = await jobOf(id);
          return job.status === 'running' ? undefined : job;
        },
        30_000,
        25,
      );
      const tookMs = Date.now() - requestedAt;
      expect(done).toMatchObject({ status: 'canceled', error: { code: 'canceled' }, images: [], attempts_made: 1 });
      expect(done.progress.step).toBeLessThan(50);
      expect(tookMs).toBeLessThan(5_000);

      // Not retried, and the worker goes on serving.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect((await jobOf(id)).status).toBe('canceled');
      const next = await api.post('/generate/sd', smallRequest({ seed: 4 }));
      expect(next.status, next.text).toBe(200);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('answers 409 for a job that has already completed, and 404 for no job', async () => {
    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      const done = await api.post('/generate/sd', smallRequest({ seed: 5 }));
      expect(done.status).toBe(200);
      const cancel = await api.post(`/v1/jobs/${done.json.id}/cancel`);
      expect(cancel.status).toBe(409);
      expect(cancel.json.error).toMatchObject({ code: 'conflict', job_id: done.json.id });
      expect((await jobOf(done.json.id)).status).toBe('completed');
      expect((await api.post('/v1/jobs/no-such-job/cancel')).status).toBe(404);
    } finally {
      await worker.close();
    }
  });
});
