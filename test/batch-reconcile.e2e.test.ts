/**
 * A worker that dies between BullMQ storing a job's end and its own bookkeeping leaves the job's
 * usage and its batch item uncounted. Any live worker's end reconciler records that end later,
 * through the same job lifecycle as a live end, exactly once.
 * The "dead" worker is simulated by a bare BullMQ worker that completes the items with no Kiln
 * bookkeeping at all.
 */
import { createLogger } from '@kiln/config';
import type { RenderJobData, RenderJobResult } from '@kiln/contracts';
import { RENDER_QUEUE, createRedis } from '@kiln/queue';
import { startRenderWorker } from '@kiln/worker';
import { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, pollUntil, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1', KILN_END_RECONCILE_MS: '300' }, { worker: false });
});
afterAll(() => h?.stop());

const jsonl = [0, 1, 2]
  .map((i) =>
    JSON.stringify({
      custom_id: `c${i}`,
      url: '/generate/sd',
      body: { prompt: 'x', width: 64, height: 64, steps: 1, seed: i },
    }),
  )
  .join('\n');

describe('end reconciliation', () => {
  it('counts the usage and batch items of jobs whose worker never did its bookkeeping, once', async () => {
    const res = await fetch(`${h.url}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: jsonl,
    });
    expect(res.status).toBe(201);
    const batchId = (await res.json()).id as string;

    const connection = createRedis(h.config.redisUrl);
    const bare = new Worker<RenderJobData, RenderJobResult>(
      RENDER_QUEUE,
      async (job) => ({ images: [], predictionTimeMs: 1, model: 'none', seeds: job.data.seeds }) as RenderJobResult,
      { connection, prefix: h.config.queuePrefix },
    );
    await pollUntil(async () => ((await h.api.deps.queue.getJobCounts()).completed === 3 ? true : undefined));
    await bare.close();
    connection.disconnect();
    expect((await getJson(`${h.url}/v1/batches/${batchId}`)).json.status).toBe('in_progress');
    expect((await getJson(`${h.url}/v1/usage`)).json.totals.jobs).toBe(0);

    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      const batch = await pollUntil(
        async () => {
          const b = (await getJson(`${h.url}/v1/batches/${batchId}`)).json;
          return b.status === 'completed' ? b : undefined;
        },
        30_000,
        100,
      );
      expect(batch.counts).toMatchObject({ completed: 3, failed: 0, canceled: 0 });
      await new Promise((r) => setTimeout(r, 1000)); // several more passes
      const again = (await getJson(`${h.url}/v1/batches/${batchId}`)).json;
      expect(again.counts).toEqual(batch.counts);
      expect((await getJson(`${h.url}/v1/usage`)).json.totals).toMatchObject({ jobs: 3, jobs_completed: 3 });
    } finally {
      await worker.close();
    }
  });
});
