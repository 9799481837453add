/**
 * Kiln's SD1.5 text-to-image equals diffusers' StableDiffusionPipeline (torch, CPU generator) on
 * the tiny model written by diffusers' own ONNX export: the reference cases of
 * fixtures/sd15-pipeline (copied from diffusers 0.38 / PyTorch), within their stated tolerances.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb, loadSd15Model, textToImage, type Sd15Model } from '@kiln/diffusion';
import { maxAbsDiff, readNpy } from './npy.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const REFERENCE = path.join(FIXTURES, 'sd15-pipeline');
const cases = JSON.parse(readFileSync(path.join(REFERENCE, 'cases.json'), 'utf8')).cases as any[];

let model: Sd15Model;
beforeAll(async () => {
  model = await loadSd15Model(path.join(FIXTURES, 'diffusers-tiny-sd15'));
});
afterAll(() => model?.dispose());

describe.each(cases.filter((c) => c.kind === 'txt2img'))('diffusers parity: $id', (c) => {
  it('matches the reference latents (1e-3) and PNG pixels (±1)', async () => {
    const result = await textToImage(model, {
      prompt: c.prompt,
      negativePrompt: c.negative_prompt,
      sampler: c.sampler,
      steps: c.num_inference_steps,
      cfgScale: c.guidance_scale,
      width: c.width,
      height: c.height,
      seeds: c.seeds,
      clipSkip: 1,
      microBatchSize: 4,
    });
    expect(result.timings.unetCalls).toBe(c.n_unet_calls);
    const latents = readNpy(path.join(REFERENCE, c.files.latents_npy));
    const perImage = latents.data.length / c.seeds.length;
    for (let i = 0; i < c.seeds.length; i++) {
      const expected = latents.data.subarray(i * perImage, (i + 1) * perImage);
      expect(maxAbsDiff(result.latents[i], expected)).toBeLessThan(1e-3);
      const png = await decodeToRgb(readFileSync(path.join(REFERENCE, c.files.png[i])));
      expect(maxAbsDiff(result.images[i].pixels, png.pixels)).toBeLessThanOrEqual(1);
    }
  });
});
