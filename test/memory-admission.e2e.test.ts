/**
 * Memory admission over real HTTP, Redis and a worker: a worker publishes its budget and its
 * model's memory profile once its model is loaded, and the API refuses, before queueing, a
 * request that fits no live worker's budget (422 naming `width`); requests that fit render.
 */
import { liveCapacities } from '@kiln/state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, postJson, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  // The tiny model (its attention fused) needs ~0.22 GiB for two 256×256 images and ~0.56 GiB at
  // 1024×1024 (docs/memory.md).
  h = await startHarness({ KILN_WORKER_MEMORY_MB: '400', KILN_ALLOW_ANY_RESOLUTION: '1' });
});
afterAll(() => h?.stop());

describe('memory admission', () => {
  it('refuses a request that fits no live worker, before anything is queued, and renders one that fits', async () => {
    const [capacity] = await pollUntil(async () => {
      const found = await liveCapacities(h.api.deps.redis, h.config.queuePrefix, 'sd15');
      return found.length ? found : undefined;
    });
    expect(capacity.budgetBytes).toBe(400 * 2 ** 20);
    expect(capacity.profile.unet.attentionFused).toBe(true);
    expect(capacity.profile.weightsBytes).toBeGreaterThan(0);

    const before = await h.api.deps.queue.getJobCounts();
    const tooBig = await postJson(`${h.url}/generate/sd`, { prompt: 'x', width: 1024, height: 1024, steps: 1 });
    expect(tooBig.status, tooBig.text).toBe(422);
    expect(tooBig.json.detail[0].loc).toEqual(['body', 'width']);
    expect(tooBig.json.error.message).toMatch(/needs about [\d.]+ GiB .* largest worker budget is 0\.4 GiB/);
    expect(await h.api.deps.queue.getJobCounts()).toEqual(before);

    const fits = await postJson(`${h.url}/generate/sd`, {
      prompt: 'x',
      width: 256,
      height: 256,
      steps: 1,
      num_images: 2,
      seed: 3,
    });
    expect(fits.status, fits.text).toBe(200);
    expect(fits.json.images).toHaveLength(2);
  });

  it('queues what it cannot judge once no worker is alive (the worker that takes it applies its budget)', async () => {
    await h.worker?.close();
    h.worker = undefined;
    expect(await liveCapacities(h.api.deps.redis, h.config.queuePrefix, 'sd15')).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // the API's one-second cache of capacities
    const queued = await postJson(
      `${h.url}/generate/sd`,
      { prompt: 'x', width: 1024, height: 1024, steps: 1 },
      { 'X-OctoAI-Async': '1' },
    );
    expect(queued.status, queued.text).toBe(201);
  });
});
