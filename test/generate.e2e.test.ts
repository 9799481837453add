import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, pollUntil, postJson, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.stop());

const request = { prompt: 'a cat', num_images: 2, seed: [7, 8], steps: 4, image_encoding: 'png' };

describe('POST /generate/sd end to end (real Redis, real worker, tiny model)', () => {
  let syncImages: string[] = [];

  it('answers 200 with two decodable 512×512 PNGs, the seeds and prediction_time_ms', async () => {
    const res = await postJson(`${h.url}/generate/sd`, request);
    expect(res.status, res.text).toBe(200);
    expect(res.json.images.map((i: any) => i.seed)).toEqual([7, 8]);
    expect(typeof res.json.prediction_time_ms).toBe('number');
    expect(res.json.prediction_time_ms).toBeGreaterThan(0);
    expect(typeof res.json.id).toBe('string');
    for (const image of res.json.images) {
      expect(image.removed_for_safety).toBe(false);
      expect(image.safety_score).toBeNull();
      const meta = await sharp(Buffer.from(image.image_b64, 'base64')).metadata();
      expect(meta.format).toBe('png');
      expect([meta.width, meta.height]).toEqual([512, 512]);
    }
    syncImages = res.json.images.map((i: any) => i.image_b64);
    expect(syncImages[0]).not.toEqual(syncImages[1]);
  });

  it('gives the same images bit for bit through X-OctoAI-Async and polling', async () => {
    const accepted = await postJson(`${h.url}/generate/sd`, request, { 'X-OctoAI-Async': '1' });
    expect(accepted.status).toBe(201);
    expect(accepted.json.poll_url).toBe(`${h.url}/v1/requests/${accepted.json.response_id}`);
    const done = await pollUntil(async () => {
      const s = await getJson(accepted.json.poll_url);
      expect(['pending', 'running', 'completed']).toContain(s.json.status);
      return s.json.status === 'completed' ? s.json : undefined;
    });
    const response = await getJson(done.response_url);
    expect(response.status).toBe(200);
    expect(response.json.id).toBe(accepted.json.response_id);
    expect(response.json.images.map((i: any) => i.image_b64)).toEqual(syncImages);
  });

  it('exposes the job with progress, timestamps and image URLs, and serves the image bytes', async () => {
    const accepted = await postJson(
      `${h.url}/generate/sd`,
      { ...request, num_images: 1, seed: 7 },
      { 'X-OctoAI-Async': '1' },
    );
    const id = accepted.json.response_id;
    const job = await pollUntil(async () => {
      const j = await getJson(`${h.url}/v1/jobs/${id}`);
      return j.json.status === 'completed' ? j.json : undefined;
    });
    expect(job).toMatchObject({
      id,
      status: 'completed',
      family: 'sd15',
      seeds: [7],
      error: null,
      queue_position: null,
    });
    expect(job.progress).toEqual({ step: 4, total_steps: 4, images_done: 1, num_images: 1, stage: null });
    expect(Date.parse(job.finished_at)).toBeGreaterThanOrEqual(Date.parse(job.created_at));
    const imageRes = await fetch(job.images[0].url);
    expect(imageRes.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await imageRes.arrayBuffer());
    // seed 7 alone gives the same picture as seed 7 in the batch of two above
    expect(bytes.toString('base64')).toEqual(syncImages[0]);
  });

  it('answers 404 for unknown jobs and images', async () => {
    expect((await getJson(`${h.url}/v1/jobs/nope`)).status).toBe(404);
    expect((await getJson(`${h.url}/v1/requests/nope`)).json.error.code).toBe('not_found');
    expect((await getJson(`${h.url}/v1/responses/nope`)).status).toBe(404);
  });

  it('encodes JPEG by default', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { prompt: 'a dog', steps: 2, seed: 1 });
    expect(res.status).toBe(200);
    const meta = await sharp(Buffer.from(res.json.images[0].image_b64, 'base64')).metadata();
    expect(meta.format).toBe('jpeg');
  });

  it('is ready when Redis answers and a worker is connected, and serves its OpenAPI document', async () => {
    expect((await getJson(`${h.url}/healthz`)).json).toEqual({ status: 'ok' });
    const ready = await getJson(`${h.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.json.workers).toBeGreaterThan(0);
    const doc = await getJson(`${h.url}/openapi.json`);
    expect(doc.json.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.json.paths)).toContain('/generate/sd');
  });
});
