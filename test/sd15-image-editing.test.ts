/**
 * The SD1.5 image-editing pipelines on testkit models (4-channel, 9-channel inpainting, and an
 * optimum-style `latent_parameters` VAE encoder): image-to-image with every sampler and several
 * strengths, inpainting on both UNet layouts, outpainting's pre-fill, the A1111-style options, and
 * the input errors a render can raise. The parity with diffusers is in sd15-img2img-parity.test.ts.
 */
import { existsSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SD15_SAMPLERS } from '@kiln/contracts';
import {
  RenderInputError,
  Renderer,
  createScheduler,
  imageToImage,
  inpaint,
  loadSd15Model,
  outpaintPrefill,
  textToImage,
  uniformMask,
  type MaskPlane,
  type RgbImage,
  type Sd15Model,
} from '@kiln/diffusion';
import { ensureTestModel } from './harness.js';

const SIZE = 64;
const base = {
  prompt: 'a photo of a cat',
  negativePrompt: '',
  sampler: 'DDIM',
  steps: 6,
  cfgScale: 7.5,
  width: SIZE,
  height: SIZE,
  seeds: [42],
  clipSkip: 1,
  microBatchSize: 4,
};

/** A smooth picture: red grows to the right, green downwards, a blue disc in the middle. */
const picture: RgbImage = {
  width: SIZE,
  height: SIZE,
  pixels: Uint8Array.from({ length: SIZE * SIZE * 3 }, (_, i) => {
    const p = Math.floor(i / 3);
    const [x, y, c] = [p % SIZE, Math.floor(p / SIZE), i % 3];
    if (c === 0) return Math.round((255 * x) / (SIZE - 1));
    if (c === 1) return Math.round((255 * y) / (SIZE - 1));
    return (x - 32) ** 2 + (y - 32) ** 2 < 100 ? 255 : 40;
  }),
};

function rectMask(x1: number, y1: number, x2: number, y2: number): MaskPlane {
  const mask = uniformMask(SIZE, SIZE, 0);
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) mask.values[y * SIZE + x] = 1;
  return mask;
}

/** Largest per-channel difference between two images over the pixels `where` selects. */
function maxDiff(a: Uint8Array, b: Uint8Array, where: (p: number) => boolean = () => true): number {
  let max = 0;
  for (let p = 0; p < a.length / 3; p++) {
    if (!where(p)) continue;
    for (let c = 0; c < 3; c++) max = Math.max(max, Math.abs(a[p * 3 + c] - b[p * 3 + c]));
  }
  return max;
}

const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

let plain: Sd15Model;
let inpainting: Sd15Model;
beforeAll(async () => {
  plain = await loadSd15Model(await ensureTestModel('tiny-sd15'));
  inpainting = await loadSd15Model(await ensureTestModel('tiny-sd15-inpaint', { unetInChannels: 9 }));
});
afterAll(async () => {
  await plain?.dispose();
  await inpainting?.dispose();
});

describe('image-to-image', () => {
  it.each([...SD15_SAMPLERS])(
    '%s starts part-way through its schedule, finite and seed-deterministic',
    async (sampler) => {
      const params = { ...base, sampler, initImage: picture, strength: 0.5 };
      const a = await imageToImage(plain, params);
      const b = await imageToImage(plain, params);
      expect(a.latents[0].every(Number.isFinite)).toBe(true);
      expect(same(a.images[0].pixels, b.images[0].pixels)).toBe(true);
      const scheduler = createScheduler(sampler, plain.schedulerConfig);
      scheduler.setTimesteps(base.steps);
      // t_start = 6 − int(6 × 0.5) = 3: the loop runs timesteps[3 × order:]
      expect(a.timings.unetCalls).toBe(scheduler.timesteps.length - 3 * scheduler.order);
      const txt = await textToImage(plain, { ...base, sampler });
      expect(a.timings.unetCalls).toBeLessThan(txt.timings.unetCalls);
    },
  );

  it('runs int(steps × strength) steps and stays nearer the image the lower the strength', async () => {
    const steps = 10;
    const runs = await Promise.all(
      [0.1, 0.3, 0.6, 1].map((strength) => imageToImage(plain, { ...base, steps, initImage: picture, strength })),
    );
    expect(runs.map((r) => r.timings.unetCalls)).toEqual([1, 3, 6, 10]);
    // One step from t = 1 leaves the image latents almost as they were: measure from there.
    const meanGap = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
    const distances = runs.map((r) => meanGap(r.latents[0], runs[0].latents[0]));
    expect(distances[1]).toBeLessThan(distances[2]);
    expect(distances[2]).toBeLessThan(distances[3]);
    expect(new Set(runs.map((r) => Buffer.from(r.images[0].pixels).toString('base64'))).size).toBe(4);
  });

  it('refuses steps × strength < 1 naming strength', async () => {
    const error = await imageToImage(plain, { ...base, steps: 3, initImage: picture, strength: 0.2 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RenderInputError);
    expect(error).toMatchObject({ code: 'input_rejected', field: 'strength' });
  });

  it('gives each seed the same image alone or in a micro-batch', async () => {
    const batch = await imageToImage(plain, {
      ...base,
      sampler: 'K_EULER_ANCESTRAL',
      seeds: [5, 6, 7],
      microBatchSize: 2,
      initImage: picture,
      strength: 0.7,
    });
    for (const [i, seed] of [5, 6, 7].entries()) {
      const alone = await imageToImage(plain, {
        ...base,
        sampler: 'K_EULER_ANCESTRAL',
        seeds: [seed],
        initImage: picture,
        strength: 0.7,
      });
      expect(maxAbs(batch.latents[i], alone.latents[0])).toBeLessThan(1e-5);
    }
  });

  it('samples an optimum-style latent_parameters posterior (mean + std·ε from the image generator)', async () => {
    const params = await loadSd15Model(await ensureTestModel('tiny-sd15-params', { vaeOutputs: 'latent_parameters' }));
    try {
      expect(params.vaeEncoder!.outputs.has('latent_parameters')).toBe(true);
      const p = { ...base, initImage: picture, strength: 0.3 };
      const a = await imageToImage(params, p);
      const again = await imageToImage(params, p);
      const mean = await imageToImage(plain, p); // the same weights, encoder outputting the mean
      expect(maxAbs(a.latents[0], again.latents[0])).toBe(0);
      const gap = maxAbs(a.latents[0], mean.latents[0]);
      expect(gap).toBeGreaterThan(0); // the posterior was sampled…
      expect(gap).toBeLessThan(0.05); // …with the small std the testkit's log-variance gives
    } finally {
      await params.dispose();
    }
  });

  it('refuses a model folder without vae_encoder, naming init_image', async () => {
    const dir = path.join(path.dirname(await ensureTestModel('tiny-sd15')), 'tiny-sd15-no-encoder');
    if (!existsSync(path.join(dir, 'model_index.json'))) {
      await cp(await ensureTestModel('tiny-sd15'), dir, {
        recursive: true,
        filter: (src) => !src.includes('vae_encoder'),
      });
    }
    const model = await loadSd15Model(dir);
    try {
      const error = await imageToImage(model, { ...base, initImage: picture, strength: 0.5 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'input_rejected', field: 'init_image' });
    } finally {
      await model.dispose();
    }
  });
});

describe('inpainting', () => {
  const mask = rectMask(16, 16, 48, 48);
  const unmasked = (p: number) => mask.values[p] === 0;
  const masked = (p: number) => mask.values[p] === 1;

  it.each([
    ['9-channel inpainting UNet', () => inpainting],
    ['4-channel UNet (legacy blend)', () => plain],
  ])('%s: repaints the mask and keeps the rest of the input exactly', async (_name, model) => {
    const result = await inpaint(model(), { ...base, initImage: picture, maskImage: mask, strength: 1 });
    expect(maxDiff(result.images[0].pixels, picture.pixels, unmasked)).toBe(0);
    expect(maxDiff(result.images[0].pixels, picture.pixels, masked)).toBeGreaterThan(20);
  });

  it('without paste-back returns the raw decode: the same masked area, the VAE round trip outside', async () => {
    const pasted = await inpaint(inpainting, { ...base, initImage: picture, maskImage: mask, strength: 0.8 });
    const raw = await inpaint(inpainting, {
      ...base,
      initImage: picture,
      maskImage: mask,
      strength: 0.8,
      pasteOriginal: false,
    });
    expect(maxDiff(raw.images[0].pixels, pasted.images[0].pixels, masked)).toBe(0);
    expect(maxDiff(raw.images[0].pixels, picture.pixels, unmasked)).toBeGreaterThan(0);
  });

  it('4-channel: the known latents end as the clean image latents, whatever the seed', async () => {
    const a = await inpaint(plain, { ...base, seeds: [1], initImage: picture, maskImage: mask, strength: 0.9 });
    const b = await inpaint(plain, { ...base, seeds: [2], initImage: picture, maskImage: mask, strength: 0.9 });
    const plane = (SIZE / 8) ** 2;
    let knownGap = 0;
    let maskedGap = 0;
    for (let i = 0; i < a.latents[0].length; i++) {
      const cell = i % plane;
      const isMasked = mask.values[Math.floor(cell / 8) * 8 * SIZE + (cell % 8) * 8] === 1;
      const gap = Math.abs(a.latents[0][i] - b.latents[0][i]);
      if (isMasked) maskedGap = Math.max(maskedGap, gap);
      else knownGap = Math.max(knownGap, gap);
    }
    expect(knownGap).toBe(0);
    expect(maskedGap).toBeGreaterThan(0.01);
  });

  it('renders each seed the same alone or in a batch (9-channel)', async () => {
    const batch = await inpaint(inpainting, {
      ...base,
      sampler: 'DPM_PLUS_PLUS_2M_SDE',
      seeds: [3, 4],
      initImage: picture,
      maskImage: mask,
      strength: 0.75,
    });
    const alone = await inpaint(inpainting, {
      ...base,
      sampler: 'DPM_PLUS_PLUS_2M_SDE',
      seeds: [4],
      initImage: picture,
      maskImage: mask,
      strength: 0.75,
    });
    expect(maxAbs(batch.latents[1], alone.latents[0])).toBeLessThan(1e-5);
  });

  it('mask_blur softens the seam only near the mask edge', async () => {
    const sharp = await inpaint(plain, { ...base, initImage: picture, maskImage: mask, strength: 1 });
    const blurred = await inpaint(plain, { ...base, initImage: picture, maskImage: mask, strength: 1, maskBlur: 2 });
    const far = (p: number) => {
      const [x, y] = [p % SIZE, Math.floor(p / SIZE)];
      return x < 8 || x >= 56 || y < 8 || y >= 56;
    };
    expect(maxDiff(blurred.images[0].pixels, picture.pixels, far)).toBe(0);
    const justOutside = (p: number) => Math.floor(p / SIZE) === 32 && p % SIZE === 15;
    expect(maxDiff(sharp.images[0].pixels, picture.pixels, justOutside)).toBe(0);
    expect(maxDiff(blurred.images[0].pixels, picture.pixels, justOutside)).toBeGreaterThan(0);
  });

  it('inpaint_full_res renders only the padded region around the mask and leaves the rest untouched', async () => {
    const small = rectMask(40, 8, 52, 20);
    const whole = await inpaint(inpainting, {
      ...base,
      initImage: picture,
      maskImage: small,
      strength: 1,
      pasteOriginal: false,
    });
    const crop = await inpaint(inpainting, {
      ...base,
      initImage: picture,
      maskImage: small,
      strength: 1,
      pasteOriginal: false,
      fullRes: true,
      fullResPadding: 4,
    });
    const outsideRegion = (p: number) => {
      const [x, y] = [p % SIZE, Math.floor(p / SIZE)];
      return x < 36 || x >= 56 || y < 4 || y >= 24;
    };
    expect(maxDiff(crop.images[0].pixels, picture.pixels, outsideRegion)).toBe(0);
    expect(maxDiff(whole.images[0].pixels, picture.pixels, outsideRegion)).toBeGreaterThan(0);
    expect(maxDiff(crop.images[0].pixels, whole.images[0].pixels, (p) => small.values[p] === 1)).toBeGreaterThan(0);
  });

  it('image-to-image on an inpainting UNet repaints everything (a full mask)', async () => {
    const renderer = new Renderer();
    try {
      const result = await renderer.render({
        family: 'sd15',
        modelDir: await ensureTestModel('tiny-sd15-inpaint', { unetInChannels: 9 }),
        params: { ...base, initImage: picture, strength: 0.5 },
      });
      expect(result.timings.unetCalls).toBe(3);
      expect(maxDiff(result.images[0].pixels, picture.pixels)).toBeGreaterThan(0);
    } finally {
      await renderer.dispose();
    }
  });
});

describe('outpainting', () => {
  // The picture shrunk into the middle of a white canvas; the 16-pixel border is to be painted.
  const canvas: RgbImage = {
    width: SIZE,
    height: SIZE,
    pixels: Uint8Array.from({ length: SIZE * SIZE * 3 }, (_, i) => {
      const p = Math.floor(i / 3);
      const [x, y] = [p % SIZE, Math.floor(p / SIZE)];
      if (x < 16 || x >= 48 || y < 16 || y >= 48) return 255;
      return picture.pixels[((y - 16) * 2 * SIZE + (x - 16) * 2) * 3 + (i % 3)];
    }),
  };
  const border = uniformMask(SIZE, SIZE, 1);
  for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) border.values[y * SIZE + x] = 0;
  const inside = (p: number) => border.values[p] === 0;
  const outside = (p: number) => border.values[p] === 1;

  it('starts from the pre-fill, not the canvas: the border differs from plain inpainting, the picture is kept', async () => {
    for (const model of [plain, inpainting]) {
      const params = { ...base, initImage: canvas, maskImage: border, strength: 0.6 };
      const out = await inpaint(model, { ...params, outpainting: true });
      const plainInpaint = await inpaint(model, params);
      expect(maxDiff(out.images[0].pixels, canvas.pixels, inside)).toBe(0);
      expect(maxDiff(out.images[0].pixels, plainInpaint.images[0].pixels, outside)).toBeGreaterThan(0);
    }
  });

  it("pre-fills with the picture's colours", () => {
    const filled = outpaintPrefill(canvas, border);
    const whiteNearby = maxDiff(
      filled.pixels,
      new Uint8Array(filled.pixels.length).fill(255),
      (p) => p === 8 * SIZE + 32,
    );
    expect(whiteNearby).toBeGreaterThan(40);
  });
});

describe('input errors', () => {
  it('refuses text-to-image on an inpainting UNet, pointing at mask_image', async () => {
    const error = await textToImage(inpainting, base).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'input_rejected', field: 'mask_image' });
  });

  it("refuses outpainting without a mask and a mask without an image (the renderer's routing)", async () => {
    const renderer = new Renderer();
    const modelDir = await ensureTestModel('tiny-sd15');
    try {
      await expect(
        renderer.render({ family: 'sd15', modelDir, params: { ...base, initImage: picture, outpainting: true } }),
      ).rejects.toMatchObject({ field: 'outpainting' });
      await expect(
        renderer.render({ family: 'sd15', modelDir, params: { ...base, maskImage: rectMask(0, 0, 8, 8) } }),
      ).rejects.toMatchObject({ field: 'mask_image' });
      await expect(
        renderer.render({ family: 'sd15', modelDir, params: { ...base, initImage: Buffer.from('garbage') } }),
      ).rejects.toMatchObject({ code: 'invalid_image', field: 'init_image' });
    } finally {
      await renderer.dispose();
    }
  });
});
