/**
 * Image-to-image end to end: real HTTP → API (validates, stores the image, queues its key) →
 * Redis → worker (reads the bytes back, renders on the inference thread) → storage → response.
 * It reproduces diffusers' reference case through the API, runs several strengths and samplers,
 * resizes inputs of other sizes and formats, and answers every bad input with a clear error while
 * the worker keeps serving.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb } from '@kiln/diffusion';
import { ensureTestModel, getJson, pollUntil, postJson, startHarness, type Harness } from './harness.js';

const REFERENCE = path.resolve(import.meta.dirname, 'fixtures', 'sd15-pipeline');
const CASE09 = (JSON.parse(readFileSync(path.join(REFERENCE, 'cases.json'), 'utf8')).cases as any[]).find(
  (c) => c.id === 'case09_img2img_DDIM',
);
const INIT_PNG = readFileSync(path.join(REFERENCE, 'img2img_init_64x64.png'));
const INIT_B64 = INIT_PNG.toString('base64');

/**
 * The PNG with its compressed image data scrambled and every chunk's CRC right: a container the
 * API's checks at the door accept (they read structure, not pixels), data no decoder can inflate.
 */
function scrambledPixels(png: Buffer): Buffer {
  const out = Buffer.from(png);
  for (let at = 8; at < out.length; at += 12 + out.readUInt32BE(at)) {
    const length = out.readUInt32BE(at);
    if (out.toString('latin1', at + 4, at + 8) !== 'IDAT') continue;
    for (let i = at + 10; i < at + 8 + length; i++) out[i] ^= 0x5a; // after the 2-byte zlib header
    out.writeUInt32BE(crc32(out.subarray(at + 4, at + 8 + length)) >>> 0, at + 8 + length);
  }
  return out;
}

const small = {
  prompt: 'a photo of a cat',
  width: 64,
  height: 64,
  steps: 10,
  cfg_scale: 7.5,
  seed: 42,
  image_encoding: 'png',
  init_image: INIT_B64,
};

let h: Harness;
beforeAll(async () => {
  await ensureTestModel('tiny-sd15-inpaint', { unetInChannels: 9 });
  h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1', KILN_MAX_IMAGE_PIXELS: String(1024 * 1024) });
});
afterAll(() => h?.stop());

async function pixelsOf(b64: string) {
  return decodeToRgb(Buffer.from(b64, 'base64'));
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('POST /generate/sd with init_image', () => {
  it("reproduces diffusers' img2img reference case through the API and worker within 1/255", async () => {
    const res = await postJson(`${h.url}/generate/sd`, {
      ...small,
      prompt: CASE09.prompt,
      negative_prompt: CASE09.negative_prompt,
      sampler: CASE09.sampler,
      strength: CASE09.strength,
      checkpoint: 'diffusers-tiny',
    });
    expect(res.status, res.text).toBe(200);
    const image = await pixelsOf(res.json.images[0].image_b64);
    const reference = await decodeToRgb(readFileSync(path.join(REFERENCE, CASE09.files.png[0])));
    expect(maxDiff(image.pixels, reference.pixels)).toBeLessThanOrEqual(1);
    // The image went to storage before the job was queued; the job carried its key.
    const stored = path.join(h.dataDir, 'inputs', res.json.id, 'init_image');
    expect(existsSync(stored)).toBe(true);
    expect(readFileSync(stored).equals(INIT_PNG)).toBe(true);
  });

  it.each([
    [0.3, 3],
    [undefined, 8], // strength defaults to 0.8 with an init_image
    [1, 10],
  ])("strength %s runs %i of 10 steps (the job's progress says so)", async (strength, steps) => {
    const res = await postJson(`${h.url}/generate/sd`, {
      ...small,
      sampler: 'DDIM',
      ...(strength !== undefined && { strength }),
    });
    expect(res.status, res.text).toBe(200);
    const job = await getJson(`${h.url}/v1/jobs/${res.json.id}`);
    expect(job.json.progress).toMatchObject({ step: steps, total_steps: steps });
  });

  it.each([
    'K_EULER_ANCESTRAL',
    'HEUN',
    'DPM_2_KARRAS',
    'DPM_PLUS_PLUS_2M_SDE_KARRAS',
    'DPM_PLUS_PLUS_SDE_KARRAS',
    'UNI_PC',
    'PNDM',
    'LMS',
  ])('%s renders, and the same request gives the same bytes', async (sampler) => {
    const body = { ...small, sampler, strength: 0.55 };
    const a = await postJson(`${h.url}/generate/sd`, body);
    const b = await postJson(`${h.url}/generate/sd`, body);
    expect(a.status, a.text).toBe(200);
    expect(a.json.images[0].image_b64).toBe(b.json.images[0].image_b64);
  });

  it('resizes a JPEG or WebP of another size and aspect ratio to the output, and works asynchronously', async () => {
    const source = sharp(INIT_PNG).resize(100, 60, { fit: 'fill' });
    for (const encoded of [await source.clone().jpeg().toBuffer(), await source.clone().webp().toBuffer()]) {
      const accepted = await postJson(
        `${h.url}/generate/sd`,
        { ...small, strength: 0.5, init_image: encoded.toString('base64') },
        { 'X-OctoAI-Async': '1' },
      );
      expect(accepted.status).toBe(201);
      const done = await pollUntil(async () => {
        const s = await getJson(accepted.json.poll_url);
        return s.json.status === 'completed' || s.json.status === 'failed' ? s.json : undefined;
      });
      expect(done.status).toBe('completed');
      const response = await getJson(done.response_url);
      const meta = await sharp(Buffer.from(response.json.images[0].image_b64, 'base64')).metadata();
      expect([meta.width, meta.height]).toEqual([64, 64]);
    }
  });

  it('does image-to-image on an inpainting checkpoint too (everything masked)', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { ...small, strength: 0.5, checkpoint: 'tiny-sd15-inpaint' });
    expect(res.status, res.text).toBe(200);
  });
});

describe('bad image-to-image input', () => {
  it('answers 422 naming strength when there is no init_image', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { prompt: 'x', strength: 0.5 });
    expect(res.status).toBe(422);
    expect(res.json.detail.map((d: any) => d.loc.join('.'))).toEqual(['body.strength']);
  });

  it('answers 400 invalid_image naming init_image for bad base64, a non-image and a decompression bomb', async () => {
    const bomb = Buffer.from(INIT_PNG);
    bomb.writeUInt32BE(20000, 16);
    bomb.writeUInt32BE(20000, 20);
    for (const init_image of [
      '%%% not base64 %%%',
      Buffer.from('plain text, not an image').toString('base64'),
      bomb.toString('base64'),
    ]) {
      const res = await postJson(`${h.url}/generate/sd`, { ...small, init_image });
      expect(res.status).toBe(400);
      expect(res.json.error).toMatchObject({ code: 'invalid_image', field: 'init_image' });
    }
  });

  it('answers 400 invalid_image from the worker for an image whose header is fine but whose data is not, and keeps serving', async () => {
    const res = await postJson(`${h.url}/generate/sd`, {
      ...small,
      init_image: scrambledPixels(INIT_PNG).toString('base64'),
    });
    expect(res.status, res.text).toBe(400);
    expect(res.json.error).toMatchObject({ code: 'invalid_image', field: 'init_image' });
    expect(res.json.error.job_id).toBeTruthy();
    const job = await getJson(`${h.url}/v1/jobs/${res.json.error.job_id}`);
    expect(job.json.status).toBe('failed');
    const again = await postJson(`${h.url}/generate/sd`, { ...small, strength: 0.5 });
    expect(again.status).toBe(200);
  });

  it('answers 422 input_rejected naming strength when steps × strength is below one step', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { ...small, steps: 2, strength: 0.4 });
    expect(res.status, res.text).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'input_rejected', field: 'strength' });
  });
});
