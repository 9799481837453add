/**
 * Kiln's SD3 equals diffusers' StableDiffusion3Pipeline / StableDiffusion3Img2ImgPipeline (torch,
 * CPU generator) on the tiny SD3 written by diffusers' modules and exported with optimum's names:
 * the reference cases of fixtures/sd3-pipeline (diffusers 0.38, PyTorch 1.13), through the pipelines
 * and through the inference thread.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb, loadSd3Model, sd3ImageToImage, sd3TextToImage, type Sd3Model } from '@kiln/diffusion';
import { maxAbsDiff, readNpy } from './npy.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const MODEL_DIR = path.join(FIXTURES, 'diffusers-tiny-sd3');
const REFERENCE = path.join(FIXTURES, 'sd3-pipeline');
const cases = JSON.parse(readFileSync(path.join(REFERENCE, 'cases.json'), 'utf8')).cases as any[];
const ref = (file: string) => readNpy(path.join(REFERENCE, file)).data;

let model: Sd3Model;
beforeAll(async () => {
  model = await loadSd3Model(MODEL_DIR);
});
afterAll(() => model?.dispose());

function paramsOf(c: any) {
  return {
    prompt: c.prompt,
    negativePrompt: c.negative_prompt,
    steps: c.num_inference_steps,
    cfgScale: c.guidance_scale,
    width: c.width,
    height: c.height,
    seeds: c.seeds,
    microBatchSize: 4,
  };
}

async function render(c: any) {
  if (c.kind === 'txt2img') return sd3TextToImage(model, paramsOf(c));
  const initImage = await decodeToRgb(readFileSync(path.join(REFERENCE, c.init_image)));
  return sd3ImageToImage(model, { ...paramsOf(c), initImage, strength: c.strength });
}

describe.each(cases)('diffusers parity: $id', (c) => {
  it('final latents to float rounding, PNG within 1/255, one transformer call per timestep', async () => {
    const result = await render(c);
    expect(result.timings.unetCalls).toBe(c.n_transformer_calls);
    const latentsDiff = maxAbsDiff(result.latents[0], ref(c.files.latents_npy));
    const png = await decodeToRgb(readFileSync(path.join(REFERENCE, c.files.png[0])));
    const pixelDiff = maxAbsDiff(result.images[0].pixels, png.pixels);
    console.log(c.id, { latentsDiff, pixelDiff });
    expect(latentsDiff).toBeLessThan(1e-4);
    expect(pixelDiff).toBeLessThanOrEqual(1);
  });
});
