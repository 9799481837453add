/**
 * The pipeline's memory bounds on a real (tiny) model: VAE runs that fit one tile are the whole-image
 * run bit for bit, larger ones are tiled; a memory budget shrinks the micro-batch without changing a
 * pixel and refuses what cannot fit; prompts are bounded in chunks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from '@kiln/testkit';
import { RenderInputError } from '../../errors.js';
import { loadSd15Model, type Sd15Model } from '../../models/sd15-model.js';
import { decodeLatents } from './decode-latents.js';
import { memoryProfile, planMemory } from './memory-plan.js';
import type { RenderParams } from './render-params.js';
import { textToImage } from './text-to-image.pipeline.js';
import { encodeLatentDistribution } from './vae-encode.js';

let root: string;
let model: Sd15Model;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-bounded-memory-'));
  const { dir } = await makeTinySd15Model(path.join(root, 'tiny'), { seed: 0 });
  model = await loadSd15Model(dir);
});
afterAll(async () => {
  await model?.dispose();
  await rm(root, { recursive: true, force: true });
});

function latents(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.37) * 0.8));
}

/** The whole-image decode written out plainly: one run, diffusers' postprocess. */
async function referenceDecode(z: Float32Array, h: number, w: number): Promise<Uint8Array> {
  const scaled = z.map((v) => v / Math.fround(model.vaeScalingFactor));
  const out = await model.vaeDecoder.run({ latent_sample: { data: scaled, dims: [1, 4, h, w] } }, ['sample']);
  const sample = out.sample.data as Float32Array;
  const plane = 64 * h * w;
  const pixels = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.min(Math.max(Math.fround(Math.fround(sample[c * plane + p] / 2) + 0.5), 0), 1);
      const x = Math.fround(v * 255);
      const r = Math.round(x);
      pixels[p * 3 + c] = r - x === 0.5 && r % 2 === 1 ? r - 1 : r; // half to even
    }
  }
  return pixels;
}

const params = (over: Partial<RenderParams> = {}): RenderParams => ({
  prompt: 'a lighthouse',
  negativePrompt: '',
  sampler: 'DDIM',
  steps: 2,
  cfgScale: 7.5,
  width: 64,
  height: 64,
  seeds: [11, 12, 13],
  clipSkip: 1,
  microBatchSize: 3,
  ...over,
});

describe('VAE slicing and tiling', () => {
  it('decodes an image that fits one tile in one run, bit-identical to the whole-image decode', async () => {
    const z = latents(4 * 12 * 16);
    const runs = model.vaeDecoder.runCount;
    const decoded = await decodeLatents(model, z, 12, 16, 16);
    expect(model.vaeDecoder.runCount - runs).toBe(1);
    expect([decoded.width, decoded.height]).toEqual([128, 96]);
    expect(Buffer.from(decoded.pixels).equals(Buffer.from(await referenceDecode(z, 12, 16)))).toBe(true);
  });

  it('decodes a larger image in overlapping tiles (2 rows × 3 columns of 8-latent tiles)', async () => {
    const z = latents(4 * 12 * 16);
    const runs = model.vaeDecoder.runCount;
    const tiled = await decodeLatents(model, z, 12, 16, 8);
    expect(model.vaeDecoder.runCount - runs).toBe(6);
    expect([tiled.width, tiled.height, tiled.pixels.length]).toEqual([128, 96, 128 * 96 * 3]);
  });

  it('encodes an image that fits one tile in one run, as the untiled encoder; a larger one in tiles', async () => {
    const image = latents(3 * 96 * 128);
    const whole = await encodeLatentDistribution(model, image, 128, 96);
    const runs = model.vaeEncoder!.runCount;
    const fits = await encodeLatentDistribution(model, image, 128, 96, 16);
    expect(model.vaeEncoder!.runCount - runs).toBe(1);
    expect(Buffer.from(fits.mean.buffer).equals(Buffer.from(whole.mean.buffer))).toBe(true);
    const tiled = await encodeLatentDistribution(model, image, 128, 96, 8);
    expect(model.vaeEncoder!.runCount - runs).toBe(1 + 6);
    expect(tiled.dims).toEqual(whole.dims);
  });
});

describe('memory budget', () => {
  it('shrinks the micro-batch to fit the budget without changing a pixel', async () => {
    const profile = await memoryProfile(model);
    expect(profile.weightsBytes).toBeGreaterThan(1e6);
    const free = await planMemory(model, params(), { promptChunks: 1, encodesImage: false });
    const one = await planMemory(model, params({ microBatchSize: 1 }), { promptChunks: 1, encodesImage: false });
    expect(free.microBatchSize).toBe(3);
    // A budget between the one-image and the three-image peaks.
    const budget = Math.floor((one.estimate.totalBytes + free.estimate.totalBytes) / 2);
    const planned = await planMemory(model, params({ memoryBudgetBytes: budget }), {
      promptChunks: 1,
      encodesImage: false,
    });
    expect(planned.microBatchSize).toBeLessThan(3);
    expect(planned.estimate.totalBytes).toBeLessThanOrEqual(budget);

    const batched = await textToImage(model, params());
    const bounded = await textToImage(model, params({ memoryBudgetBytes: budget }));
    expect(bounded.timings.unetCalls).toBeGreaterThan(batched.timings.unetCalls);
    bounded.images.forEach((image, i) =>
      expect(Buffer.from(image.pixels).equals(Buffer.from(batched.images[i].pixels))).toBe(true),
    );
  });

  it('refuses a render that cannot fit with one image per UNet call, naming width', async () => {
    // The runtime alone and the VAE decoding 1024×1024 in one tile take more than 0.4 GiB.
    const budget = 0.4 * 2 ** 30;
    const err = await textToImage(model, params({ width: 1024, height: 1024, memoryBudgetBytes: budget })).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(RenderInputError);
    expect(err).toMatchObject({ code: 'input_rejected', field: 'width' });
    expect(err.message).toMatch(/needs about \d+\.\d GiB .* over its 0\.4 GiB memory budget/);
  });
});

describe('prompt chunks', () => {
  it('refuses a prompt or negative prompt of more than 8 chunks, naming the field', async () => {
    const breaks = Array.from({ length: 2000 }, () => 'BREAK').join(' ');
    await expect(textToImage(model, params({ prompt: breaks }))).rejects.toMatchObject({ field: 'prompt' });
    await expect(textToImage(model, params({ negativePrompt: `a ${'BREAK a '.repeat(8)}` }))).rejects.toMatchObject({
      field: 'negative_prompt',
      message: expect.stringMatching(/takes 9 chunks .* at most 8/),
    });
    const eight = await textToImage(model, params({ prompt: `a ${'BREAK a '.repeat(7)}`, seeds: [1] }));
    expect(eight.images).toHaveLength(1);
  });
});
