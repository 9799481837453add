/**
 * ControlNet end to end: real HTTP → API (validates the ControlNet fields, resolves the ControlNet,
 * stores the conditioning image) → Redis → worker (asset cache, inference thread) → response.
 * On the tiny SD1.5 + ControlNet written by diffusers (fixtures/diffusers-tiny-sd15-controlnet) it
 * reproduces diffusers' StableDiffusionControlNetPipeline reference within 1/255, as the ControlNet
 * inside the model folder (`model:controlnet`) and as an uploaded `controlnet` asset; scale 0 and
 * early stop 0 give exactly the image without ControlNet; every bad input is a 4xx naming its field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb, encodeImage, preprocessConditioningImage } from '@kiln/diffusion';
import { getJson, pollUntil, postJson, startHarness, tinyModelsDir, type Harness } from './harness.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const REFERENCE = path.join(FIXTURES, 'sd15-controlnet');
const CASE = JSON.parse(readFileSync(path.join(REFERENCE, 'cases.json'), 'utf8')).cases[0];
const COND_B64 = readFileSync(path.join(REFERENCE, CASE.control_image)).toString('base64');
const CONTROLNET_FILE = path.join(FIXTURES, 'diffusers-tiny-sd15-controlnet', 'controlnet', 'model.onnx');

const reference = {
  prompt: CASE.prompt,
  negative_prompt: CASE.negative_prompt,
  sampler: CASE.sampler,
  steps: CASE.num_inference_steps,
  cfg_scale: CASE.guidance_scale,
  width: 64,
  height: 64,
  seed: CASE.seeds[0],
  image_encoding: 'png',
  checkpoint: 'diffusers-tiny-controlnet',
};
const withControlNet = { ...reference, controlnet: 'model:controlnet', controlnet_image: COND_B64 };

let h: Harness;
beforeAll(async () => {
  // The shared diffusers model, unchanged, as a model folder beside the harness's tiny models.
  const link = path.join(await tinyModelsDir(), 'diffusers-tiny-controlnet');
  if (!existsSync(link)) {
    await symlink(path.join(FIXTURES, 'diffusers-tiny-sd15-controlnet'), link).catch(() => undefined);
  }
  h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1' });
}, 120_000);
afterAll(() => h?.stop());

async function upload(name: string, bytes: Uint8Array) {
  const form = new FormData();
  form.append('name', name);
  form.append('type', 'controlnet');
  form.append('file', new Blob([bytes]), 'model.onnx');
  const res = await fetch(`${h.url}/v1/assets`, { method: 'POST', body: form });
  return { status: res.status, json: (await res.json()) as any };
}

async function pixels(body: Record<string, unknown>): Promise<Uint8Array[]> {
  const res = await postJson(`${h.url}/generate/sd`, body);
  expect(res.status, res.text).toBe(200);
  return Promise.all(
    res.json.images.map(
      async (i: { image_b64: string }) => (await decodeToRgb(Buffer.from(i.image_b64, 'base64'))).pixels,
    ),
  );
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('POST /generate/sd with a ControlNet', () => {
  it("reproduces diffusers' ControlNet reference through the API and worker within 1/255", async () => {
    const [image] = await pixels(withControlNet);
    const expected = await decodeToRgb(readFileSync(path.join(REFERENCE, CASE.files.png[0])));
    expect(maxDiff(image, expected.pixels)).toBeLessThanOrEqual(1);
  });

  it('renders the same with the ControlNet uploaded as a controlnet asset', async () => {
    const up = await upload('tiny-cn', readFileSync(CONTROLNET_FILE));
    expect(up.status, JSON.stringify(up.json)).toBe(201);
    expect(up.json.type).toBe('controlnet');
    const [viaAsset] = await pixels({ ...withControlNet, controlnet: 'tiny-cn' });
    const [viaModel] = await pixels(withControlNet);
    expect(same(viaAsset, viaModel)).toBe(true);
  });

  it('scale 0 and early stop 0 give exactly the image without ControlNet; scale 1 does not', async () => {
    const [none] = await pixels(reference);
    const [plain] = await pixels({ ...reference, checkpoint: 'diffusers-tiny' });
    const [zero] = await pixels({ ...withControlNet, controlnet_conditioning_scale: 0 });
    const [stopped] = await pixels({ ...withControlNet, controlnet_early_stop: 0 });
    const [full] = await pixels(withControlNet);
    expect(same(none, plain)).toBe(true);
    expect(same(zero, none)).toBe(true);
    expect(same(stopped, none)).toBe(true);
    expect(maxDiff(full, none)).toBeGreaterThan(10);
  });

  it('batches as plain SD1.5 does: each image equals its seed rendered alone, async included', async () => {
    const both = await pixels({ ...withControlNet, num_images: 2, seed: [42, 7] });
    const [alone7] = await pixels({ ...withControlNet, seed: 7 });
    expect(same(both[1], alone7)).toBe(true);
    const queued = await postJson(`${h.url}/generate/sd`, { ...withControlNet, seed: 7 }, { 'X-OctoAI-Async': '1' });
    expect(queued.status, queued.text).toBeLessThan(300);
    const done = await pollUntil(async () => {
      const r = await getJson(queued.json.poll_url);
      return r.json.status === 'completed' ? r.json : undefined;
    });
    const b64 = (await getJson(done.response_url)).json.images[0].image_b64;
    expect(same((await decodeToRgb(Buffer.from(b64, 'base64'))).pixels, alone7)).toBe(true);
  });

  it('runs as batch items (JSONL), each image equal to the same request sent alone', async () => {
    const items = [42, 7].map((seed) => ({
      custom_id: `cn-${seed}`,
      url: '/generate/sd',
      body: { ...withControlNet, seed, controlnet_conditioning_scale: 0.5 },
    }));
    const body = items.map((i) => JSON.stringify(i)).join('\n') + '\n';
    const res = await fetch(`${h.url}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    const { id } = (await res.json()) as { id: string };
    await pollUntil(async () => {
      const b = (await getJson(`${h.url}/v1/batches/${id}`)).json;
      return b.status === 'completed' ? b : undefined;
    }, 120_000);
    const lines = (await (await fetch(`${h.url}/v1/batches/${id}/results`)).text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.status)).toEqual(['completed', 'completed']);
    const fromBatch = await decodeToRgb(Buffer.from(await (await fetch(lines[1].images[0].url)).arrayBuffer()));
    const [alone] = await pixels({ ...withControlNet, seed: 7, controlnet_conditioning_scale: 0.5 });
    expect(same(fromBatch.pixels, alone)).toBe(true);
  }, 180_000);

  it('preprocesses a photo for a ControlNet named canny, and refuses to for one it cannot', async () => {
    expect((await upload('tiny-canny', readFileSync(CONTROLNET_FILE))).status).toBe(201);
    const photo = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#202020' } })
      .composite([
        {
          input: Buffer.from(
            await sharp({ create: { width: 24, height: 24, channels: 3, background: '#e0e0e0' } })
              .png()
              .toBuffer(),
          ),
          left: 20,
          top: 20,
        },
      ])
      .png()
      .toBuffer();
    const photoB64 = photo.toString('base64');
    const [raw] = await pixels({ ...withControlNet, controlnet: 'tiny-canny', controlnet_image: photoB64 });
    const [edges] = await pixels({
      ...withControlNet,
      controlnet: 'tiny-canny',
      controlnet_image: photoB64,
      controlnet_preprocess: true,
    });
    expect(maxDiff(raw, edges)).toBeGreaterThan(0);
    // The same as sending the Canny edge map (100/200) ready-made.
    const edgeMap = preprocessConditioningImage(await decodeToRgb(photo), 'canny');
    const edgePng = await encodeImage(edgeMap.pixels, 64, 64, 'png');
    const [ready] = await pixels({
      ...withControlNet,
      controlnet: 'tiny-canny',
      controlnet_image: Buffer.from(edgePng).toString('base64'),
    });
    expect(same(ready, edges)).toBe(true);
    const refused = await postJson(`${h.url}/generate/sd`, { ...withControlNet, controlnet_preprocess: true });
    expect(refused.status).toBe(422);
    expect(refused.json.detail[0].loc).toEqual(['body', 'controlnet_preprocess']);
  });
});

describe('bad ControlNet inputs', () => {
  const post = (body: Record<string, unknown>) => postJson(`${h.url}/generate/sd`, body);

  it('an unknown ControlNet is a 422 naming controlnet, before anything is queued', async () => {
    const res = await post({ ...withControlNet, controlnet: 'no-such-controlnet' });
    expect(res.status).toBe(422);
    expect(res.json.detail[0].loc).toEqual(['body', 'controlnet']);
    const missing = await post({ ...withControlNet, controlnet: 'model:controlnet_depth' });
    expect(missing.status).toBe(422);
    expect(missing.json.detail[0].msg).toMatch(/no ControlNet controlnet_depth/);
  });

  it('a bad image is a 400 naming controlnet_image; a missing one a 422', async () => {
    const bad = await post({ ...withControlNet, controlnet_image: 'bm90IGFuIGltYWdl' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain('controlnet_image');
    const none = await post({ ...reference, controlnet: 'model:controlnet' });
    expect(none.status).toBe(422);
    expect(none.json.detail[0].loc).toEqual(['body', 'controlnet_image']);
  });

  it('a scale or early stop out of range is a 422 naming it', async () => {
    const scale = await post({ ...withControlNet, controlnet_conditioning_scale: 3 });
    expect(scale.status).toBe(422);
    expect(scale.json.detail[0].loc).toEqual(['body', 'controlnet_conditioning_scale']);
    const stop = await post({ ...withControlNet, controlnet_early_stop: -0.1 });
    expect(stop.status).toBe(422);
    expect(stop.json.detail[0].loc).toEqual(['body', 'controlnet_early_stop']);
  });

  it('a UNet without residual inputs is a 422 naming controlnet, and the worker keeps serving', async () => {
    expect((await upload('tiny-cn-2', readFileSync(CONTROLNET_FILE))).status).toBe(201);
    const res = await post({ ...withControlNet, controlnet: 'tiny-cn-2', checkpoint: 'diffusers-tiny' });
    expect(res.status, res.text).toBe(422);
    expect(res.text).toMatch(/no ControlNet residual inputs/);
    expect(res.text).toContain('controlnet');
    const [after] = await pixels(withControlNet);
    expect(after.length).toBe(64 * 64 * 3);
  });

  it('a file that is not a ControlNet is refused at upload, naming file', async () => {
    const vae = readFileSync(path.join(FIXTURES, 'diffusers-tiny-sd15', 'vae_decoder', 'model.onnx'));
    const res = await upload('not-a-cn', vae);
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.json)).toMatch(/not a ControlNet export/);
  });
});
