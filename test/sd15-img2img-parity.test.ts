/**
 * Kiln's SD1.5 image-to-image equals diffusers' StableDiffusionImg2ImgPipeline (torch, CPU
 * generator) on the tiny model written by diffusers' own ONNX export: reference case09 of
 * fixtures/sd15-pipeline (DDIM, strength 0.6, 10 steps → 6 UNet calls from t = 501), within the
 * reference's tolerances (latents 1e-3, PNG ±1). It also holds the generator's draw order: diffusers
 * draws the VAE posterior sample before the noise, and Kiln draws (and here discards, the ONNX
 * encoder having sampled inside the graph) that normal too.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeInitImage, decodeToRgb, imageToImage, loadSd15Model, type Sd15Model } from '@kiln/diffusion';
import { maxAbsDiff, readNpy } from './npy.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const REFERENCE = path.join(FIXTURES, 'sd15-pipeline');
const cases = JSON.parse(readFileSync(path.join(REFERENCE, 'cases.json'), 'utf8')).cases as any[];
const img2img = cases.filter((c) => c.kind === 'img2img');

let model: Sd15Model;
beforeAll(async () => {
  model = await loadSd15Model(path.join(FIXTURES, 'diffusers-tiny-sd15'));
});
afterAll(() => model?.dispose());

it('has an img2img reference case to check', () => {
  expect(img2img.map((c) => c.id)).toContain('case09_img2img_DDIM');
});

describe.each(img2img)('diffusers img2img parity: $id', (c) => {
  async function render(seeds: number[]) {
    const init = readFileSync(path.join(REFERENCE, c.init_image));
    const initImage = await decodeInitImage(init, { field: 'init_image', width: 64, height: 64 });
    return imageToImage(model, {
      prompt: c.prompt,
      negativePrompt: c.negative_prompt,
      sampler: c.sampler,
      steps: c.num_inference_steps,
      cfgScale: c.guidance_scale,
      width: 64,
      height: 64,
      seeds,
      clipSkip: 1,
      microBatchSize: 4,
      initImage,
      strength: c.strength,
    });
  }

  it('matches the reference latents (1e-3) and PNG pixels (±1), with the reference number of UNet calls', async () => {
    const result = await render(c.seeds);
    expect(result.timings.unetCalls).toBe(c.n_unet_calls);
    const latents = readNpy(path.join(REFERENCE, c.files.latents_npy));
    const perImage = latents.data.length / c.seeds.length;
    for (let i = 0; i < c.seeds.length; i++) {
      expect(maxAbsDiff(result.latents[i], latents.data.subarray(i * perImage, (i + 1) * perImage))).toBeLessThan(1e-3);
      const png = await decodeToRgb(readFileSync(path.join(REFERENCE, c.files.png[i])));
      expect(maxAbsDiff(result.images[i].pixels, png.pixels)).toBeLessThanOrEqual(1);
    }
  });

  it('gives the same image for the seed inside a batch of three', async () => {
    const alone = await render(c.seeds);
    const batch = await render([7, c.seeds[0], 8]);
    expect(maxAbsDiff(batch.latents[1], alone.latents[0])).toBeLessThan(1e-5);
  });
});
