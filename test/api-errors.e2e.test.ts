import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';
import { getJson, pollUntil, postJson, startHarness, type Harness } from './harness.js';

/** A PNG of 1×1 pixel, and one whose header claims 100000×100000 pixels (a decompression bomb). */
const TINY_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
function pngHeader(width: number, height: number): string {
  const buf = Buffer.from(TINY_PNG, 'base64');
  buf.writeUInt32BE(width, 16);
  buf.writeUInt32BE(height, 20);
  return buf.toString('base64');
}

let h: Harness;
beforeAll(async () => {
  // No worker: these requests must be answered (or queued) without one.
  h = await startHarness({ KILN_MAX_BODY_BYTES: '20000', KILN_SYNC_TIMEOUT_MS: '500' }, { worker: false });
});
afterAll(() => h?.stop());

describe('API errors over real HTTP', () => {
  it('answers 422 in FastAPI shape with error.code for invalid fields', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { prompt: 'x', steps: 0, colour: 'red' });
    expect(res.status).toBe(422);
    expect(res.json.error.code).toBe('invalid_request');
    const locs = res.json.detail.map((d: any) => d.loc.join('.'));
    expect(locs).toContain('body.steps');
    expect(locs).toContain('body.colour');
    expect(res.json.detail.find((d: any) => d.loc[1] === 'colour').type).toBe('extra_forbidden');
  });

  it('answers 422 for a body that is not JSON, 415 for another content type', async () => {
    const bad = await postJson(`${h.url}/generate/sd`, '{"prompt": ');
    expect(bad.status).toBe(422);
    expect(bad.json.detail[0].loc).toEqual(['body']);
    const res = await fetch(`${h.url}/generate/sd`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'a cat',
    });
    expect(res.status).toBe(415);
  });

  it('answers 413 for a body over the limit', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { prompt: 'x'.repeat(9000), init_image: 'A'.repeat(20000) });
    expect(res.status).toBe(413);
    expect(res.json.error.code).toBe('payload_too_large');
  });

  it('answers 400 naming the field for bad base64 and undecodable images', async () => {
    const badBase64 = await postJson(`${h.url}/generate/sd`, { prompt: 'x', init_image: '###not base64###' });
    expect(badBase64.status).toBe(400);
    expect(badBase64.json.error).toMatchObject({ code: 'invalid_image', field: 'init_image' });
    const notImage = await postJson(`${h.url}/generate/sd`, {
      prompt: 'x',
      init_image: TINY_PNG,
      mask_image: Buffer.from('hello, this is not an image').toString('base64'),
    });
    expect(notImage.status).toBe(400);
    expect(notImage.json.error.field).toBe('mask_image');
    const bomb = await postJson(`${h.url}/generate/sd`, { prompt: 'x', init_image: pngHeader(100000, 100000) });
    expect(bomb.status).toBe(400);
    expect(bomb.json.error.message).toMatch(/over the limit/);
  });

  it('validates /generate/sd3 fully, then answers 503 model_unavailable while no SD3 model is configured', async () => {
    const invalid = await postJson(`${h.url}/generate/sd3`, { prompt: 'x', clip_skip: 2 });
    expect(invalid.status).toBe(422);
    expect(invalid.json.detail[0].loc).toEqual(['body', 'clip_skip']);
    const valid = await postJson(`${h.url}/generate/sd3`, { prompt: 'x' });
    expect(valid.status).toBe(503);
    expect(valid.json.error.code).toBe('model_unavailable');
    expect(valid.headers.get('retry-after')).toBeTruthy();
  });

  it('answers 404 with a code for unknown routes', async () => {
    const res = await getJson(`${h.url}/v2/nothing`);
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe('not_found');
  });

  it('answers 504 with the job id when the sync wait runs out, and the job goes on', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { prompt: 'a cat', steps: 2, seed: 3, image_encoding: 'png' });
    expect(res.status).toBe(504);
    expect(res.json.error.code).toBe('timeout');
    const jobId = res.json.error.job_id;
    const queued = await getJson(`${h.url}/v1/jobs/${jobId}`);
    expect(queued.json.status).toBe('queued');
    expect(queued.json.queue_position).toBe(0);
    expect((await getJson(`${h.url}/readyz`)).status).toBe(503); // no worker yet

    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      const done = await pollUntil(async () => {
        const j = await getJson(`${h.url}/v1/requests/${jobId}`);
        return j.json.status === 'completed' ? j.json : undefined;
      });
      const response = await getJson(done.response_url);
      expect(response.json.images[0].seed).toBe(3);
    } finally {
      await worker.close();
    }
  });
});
