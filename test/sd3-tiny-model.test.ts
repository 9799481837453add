/**
 * The testkit's random-weight SD3 (`makeTinySd3Model`, `kiln models make-tiny --family sd3`): the
 * same tensor names, element types and ranks as optimum's SD3 export (the diffusers-made fixture),
 * and Kiln renders it through the inference thread: text-to-image at 1024×1024, batch invariance,
 * image-to-image, and a folder without T5.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiffusionThread, encodeImage, loadSd3Model, OnnxModel, type Sd3RenderParams } from '@kiln/diffusion';
import { makeTinySd3Model } from '@kiln/testkit';
import { maxAbsDiff } from './npy.js';

const FIXTURE = path.resolve(import.meta.dirname, 'fixtures', 'diffusers-tiny-sd3');
const PARTS = ['text_encoder', 'text_encoder_2', 'text_encoder_3', 'transformer', 'vae_decoder', 'vae_encoder'];

let root: string;
let modelDir: string;
let thread: DiffusionThread;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'kiln-sd3-'));
  modelDir = path.join(root, 'tiny-sd3');
  await makeTinySd3Model(modelDir, { seed: 3 });
  thread = new DiffusionThread();
});
afterAll(async () => {
  await thread?.close();
  await rm(root, { recursive: true, force: true });
});

async function signature(file: string) {
  const model = await OnnxModel.load(file);
  const describe = (values: Map<string, { name: string; type: string; shape: readonly (number | string)[] }>) =>
    [...values.values()].map((v) => ({ name: v.name, type: v.type, rank: v.shape.length }));
  const out = { inputs: describe(model.inputs), outputs: describe(model.outputs) };
  await model.dispose();
  return out;
}

const base: Sd3RenderParams = {
  prompt: 'a lighthouse at dusk',
  negativePrompt: '',
  steps: 2,
  cfgScale: 5,
  width: 64,
  height: 64,
  seeds: [1],
  microBatchSize: 2,
};

describe('makeTinySd3Model', () => {
  it.each(PARTS)("%s has the I/O names, element types and ranks of optimum's SD3 export", async (part) => {
    const ours = await signature(path.join(modelDir, part, 'model.onnx'));
    const reference = await signature(path.join(FIXTURE, part, 'model.onnx'));
    expect(ours).toEqual(reference);
  });

  it("loads with Kiln's SD3 loader: widths from the metadata, VAE shift and scale from its config", async () => {
    const model = await loadSd3Model(modelDir);
    try {
      expect([model.jointAttentionDim, model.pooledProjectionDim, model.latentChannels]).toEqual([48, 40, 16]);
      expect([model.vaeScalingFactor, model.vaeShiftFactor]).toEqual([1.5305, 0.0609]);
      expect(model.clipG.tokenizer.padId).toBe(0);
      expect(Array.from(model.t5!.tokenizer.encodePadded('a photo of a cat', 8))).toEqual([4, 13, 7, 4, 16, 1, 0, 0]);
    } finally {
      await model.dispose();
    }
  });

  it("renders SD3's default 1024×1024", async () => {
    const result = await thread.render({
      family: 'sd3',
      modelDir,
      params: { ...base, width: 1024, height: 1024, steps: 1 },
    });
    expect(result.images.map((i) => [i.seed, i.width, i.height, i.pixels.length])).toEqual([
      [1, 1024, 1024, 1024 * 1024 * 3],
    ]);
  });

  it('a seed rendered alone equals the same seed inside a batch', async () => {
    const params = { ...base, width: 256, height: 256 };
    const batch = await thread.render({ family: 'sd3', modelDir, params: { ...params, seeds: [1, 2] } });
    const alone = await thread.render({
      family: 'sd3',
      modelDir,
      params: { ...params, seeds: [2], microBatchSize: 1 },
    });
    expect(batch.images.map((i) => i.seed)).toEqual([1, 2]);
    expect(maxAbsDiff(alone.latents[0], batch.latents[1])).toBeLessThan(1e-5);
    expect(maxAbsDiff(alone.images[0].pixels, batch.images[1].pixels)).toBeLessThanOrEqual(1);
    expect(maxAbsDiff(batch.images[0].pixels, batch.images[1].pixels)).toBeGreaterThan(10);
  });

  it('renders image-to-image from an encoded init image', async () => {
    const first = await thread.render({ family: 'sd3', modelDir, params: base });
    const { pixels, width, height } = first.images[0];
    const initImage = new Uint8Array(await encodeImage(pixels, width, height, 'png'));
    const result = await thread.render({
      family: 'sd3',
      modelDir,
      params: { ...base, steps: 4, initImage, strength: 0.5 },
    });
    expect(result.timings.unetCalls).toBe(2);
    expect(result.images[0].pixels.length).toBe(64 * 64 * 3);
  });

  it('same seed, same bytes; another seed, other weights', async () => {
    const again = path.join(root, 'again');
    const other = path.join(root, 'other');
    await makeTinySd3Model(again, { seed: 3 });
    await makeTinySd3Model(other, { seed: 4 });
    const bytes = (dir: string) => readFile(path.join(dir, 'transformer', 'model.onnx'));
    expect((await bytes(again)).equals(await bytes(modelDir))).toBe(true);
    expect((await bytes(other)).equals(await bytes(modelDir))).toBe(false);
  });

  it('writes a folder without T5 that Kiln renders on zeros', async () => {
    const dir = path.join(root, 'no-t5');
    await makeTinySd3Model(dir, { seed: 3, t5: false });
    const index = JSON.parse(await readFile(path.join(dir, 'model_index.json'), 'utf8'));
    expect(index.text_encoder_3).toEqual([null, null]);
    const result = await thread.render({ family: 'sd3', modelDir: dir, params: base });
    expect(result.images[0].pixels.length).toBe(64 * 64 * 3);
  });
});
