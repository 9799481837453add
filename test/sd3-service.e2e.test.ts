/**
 * SD3 through the whole service: `POST /generate/sd3` over real HTTP, Redis and a worker, and
 * `kiln render`, on diffusers' own tiny SD3 (equal to diffusers' reference images within 1/255)
 * and on the testkit's tiny SD3 at the default 1024×1024 (batching, seeds, image-to-image).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeToRgb } from '@kiln/diffusion';
import { makeTinySd3Model } from '@kiln/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, startHarness, tinyModelsDir, type Harness } from './harness.js';

const run = promisify(execFile);
const KILN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');
const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const REFERENCE = path.join(FIXTURES, 'sd3-pipeline');
const cases = JSON.parse(await readFile(path.join(REFERENCE, 'cases.json'), 'utf8')).cases as any[];
const txt2img = cases.find((c) => c.kind === 'txt2img');
const img2img = cases.find((c) => c.kind === 'img2img');

async function maxPixelDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([decodeToRgb(a), decodeToRgb(b)]);
  expect([x.width, x.height]).toEqual([y.width, y.height]);
  let max = 0;
  for (let i = 0; i < x.pixels.length; i++) max = Math.max(max, Math.abs(x.pixels[i] - y.pixels[i]));
  return max;
}

const referencePng = (c: any) => readFile(path.join(REFERENCE, c.files.png[0]));

/** A folder under the harness' models folder, linked to (or written as) an SD3 model. */
async function sd3Model(name: string, make: (dir: string) => Promise<void>): Promise<void> {
  const dir = path.join(await tinyModelsDir(), name);
  if (!existsSync(path.join(dir, 'model_index.json'))) await make(dir);
}

describe("SD3 on diffusers' tiny SD3", () => {
  let h: Harness;
  beforeAll(async () => {
    await sd3Model('diffusers-tiny-sd3', (dir) =>
      symlink(path.join(FIXTURES, 'diffusers-tiny-sd3'), dir).catch(() => undefined),
    );
    h = await startHarness({ KILN_SD3_MODEL: 'diffusers-tiny-sd3', KILN_ALLOW_ANY_RESOLUTION: '1' });
  });
  afterAll(() => h?.stop());

  const body = (c: any) => ({
    prompt: c.prompt,
    negative_prompt: c.negative_prompt,
    seed: c.seeds[0],
    width: c.width,
    height: c.height,
    steps: c.num_inference_steps,
    cfg_scale: c.guidance_scale,
    image_encoding: 'png',
  });

  it('text-to-image through the API equals diffusers within 1/255', async () => {
    const reply = await postJson(`${h.url}/generate/sd3`, body(txt2img));
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json.images[0].seed).toBe(42);
    expect(
      await maxPixelDiff(Buffer.from(reply.json.images[0].image_b64, 'base64'), await referencePng(txt2img)),
    ).toBeLessThanOrEqual(1);
  });

  it('image-to-image with init_image and strength through the API equals diffusers within 1/255', async () => {
    const init = await readFile(path.join(REFERENCE, img2img.init_image));
    const reply = await postJson(`${h.url}/generate/sd3`, {
      ...body(img2img),
      init_image: init.toString('base64'),
      strength: img2img.strength,
    });
    expect(reply.status, reply.text).toBe(200);
    expect(
      await maxPixelDiff(Buffer.from(reply.json.images[0].image_b64, 'base64'), await referencePng(img2img)),
    ).toBeLessThanOrEqual(1);
  });

  it('kiln render recognises the SD3 folder and equals diffusers within 1/255', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'kiln-sd3-cli-'));
    try {
      const c = txt2img;
      await run(process.execPath, [
        KILN,
        'render',
        '--model',
        path.join(FIXTURES, 'diffusers-tiny-sd3'),
        '--prompt',
        c.prompt,
        '--seed',
        String(c.seeds[0]),
        '--steps',
        String(c.num_inference_steps),
        '--cfg-scale',
        String(c.guidance_scale),
        '--width',
        String(c.width),
        '--height',
        String(c.height),
        '--image-encoding',
        'png',
        '--out',
        out,
      ]);
      expect(await maxPixelDiff(await readFile(path.join(out, '0.png')), await referencePng(c))).toBeLessThanOrEqual(1);
      const result = JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8'));
      expect(result.parameters).toMatchObject({ sampler: 'FLOW_MATCH_EULER', steps: 8, cfg_scale: 5 });
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it.each([
    ['checkpoint', { checkpoint: 'other' }],
    ['vae', { vae: 'other' }],
    ['loras', { loras: { style: 0.5 } }],
    ['textual_inversions', { textual_inversions: { ti: 'trigger' } }],
    ['clip_skip', { clip_skip: 2 }],
    ['mask_image', { init_image: 'aGVsbG8=', mask_image: 'aGVsbG8=' }],
    ['outpainting', { outpainting: true }],
    ['sampler', { sampler: 'DDIM' }],
    ['mask_blur', { mask_blur: 4 }],
  ])('refuses the SD1.5-only field %s with 422 naming it', async (field, extra) => {
    const reply = await postJson(`${h.url}/generate/sd3`, { prompt: 'x', width: 64, height: 64, steps: 1, ...extra });
    expect(reply.status, reply.text).toBe(422);
    expect(reply.json.detail.map((d: any) => d.loc)).toContainEqual(['body', field]);
  });
});

describe('SD3 at its default size on the testkit tiny SD3', () => {
  let h: Harness;
  beforeAll(async () => {
    await sd3Model('testkit-tiny-sd3', (dir) => makeTinySd3Model(dir, { seed: 0 }).then(() => undefined));
    h = await startHarness({ KILN_SD3_MODEL: 'testkit-tiny-sd3' });
  });
  afterAll(() => h?.stop());

  it('renders two 1024×1024 images, each equal to its seed rendered alone', async () => {
    const batch = await postJson(`${h.url}/generate/sd3`, {
      prompt: 'a lighthouse at dusk',
      num_images: 2,
      seed: [1, 2],
      steps: 4,
    });
    expect(batch.status, batch.text).toBe(200);
    expect(batch.json.images.map((i: any) => i.seed)).toEqual([1, 2]);
    const decoded = await Promise.all(
      batch.json.images.map((i: any) => decodeToRgb(Buffer.from(i.image_b64, 'base64'))),
    );
    for (const image of decoded) expect([image.width, image.height]).toEqual([1024, 1024]);

    const alone = await postJson(`${h.url}/generate/sd3`, { prompt: 'a lighthouse at dusk', seed: 2, steps: 4 });
    expect(alone.status, alone.text).toBe(200);
    expect(alone.json.images[0].image_b64).toBe(batch.json.images[1].image_b64);
    expect(batch.json.images[0].image_b64).not.toBe(batch.json.images[1].image_b64);
  }, 600_000);
});
