/**
 * ControlNets render on the model's sessions already loaded: on the testkit's tiny model with a
 * ControlNet, alternating requests with and without it load the model once and the ControlNet once
 * (the default cache holds one model), and give the images fresh renderers give. One ControlNet
 * used with two models is loaded once; the byte budget counts the shared sessions once.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from '@kiln/testkit';
import type { RgbImage } from '../image/raster.js';
import { loadSd15Model } from '../models/sd15-model.js';
import { memoryProfile } from '../pipelines/sd15/memory-plan.js';
import type { RenderResult, RenderStage } from '../pipelines/sd15/render-types.js';
import { Renderer } from './renderer.js';
import type { Sd15RenderParams } from './sd15-request.js';

let root: string;
let modelDir: string;
let otherModelDir: string;
let controlnet: string;
let otherControlnet: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-session-cache-'));
  modelDir = (await makeTinySd15Model(path.join(root, 'model'), { seed: 0, controlnet: true })).dir;
  otherModelDir = (await makeTinySd15Model(path.join(root, 'other'), { seed: 1, controlnet: true })).dir;
  controlnet = path.join(modelDir, 'controlnet', 'model.onnx');
  // The same ControlNet installed under another path (another asset): another session.
  await cp(path.join(modelDir, 'controlnet'), path.join(root, 'second-controlnet'), { recursive: true });
  otherControlnet = path.join(root, 'second-controlnet', 'model.onnx');
}, 60_000);
afterAll(() => rm(root, { recursive: true, force: true }));

/** A white ring on black: edges for the ControlNet to follow. */
function ring(width: number, height: number): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (Math.abs(Math.hypot(x - width / 2, y - height / 2) - 14) < 1.5) {
        pixels.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
      }
    }
  return { width, height, pixels };
}

const params: Sd15RenderParams = {
  prompt: 'a red square',
  negativePrompt: '',
  sampler: 'DDIM',
  steps: 3,
  cfgScale: 7.5,
  width: 64,
  height: 48,
  seeds: [3],
  clipSkip: 1,
  microBatchSize: 1,
};
const withControlNet = (file = controlnet): Sd15RenderParams => ({
  ...params,
  controlnets: [{ model: file, image: ring(64, 48), scale: 1 }],
});

function render(renderer: Renderer, p: Sd15RenderParams, dir = modelDir, stages: RenderStage[] = []) {
  return renderer.render({ family: 'sd15', modelDir: dir, params: p }, { onStage: (s) => stages.push(s) });
}

async function fresh(p: Sd15RenderParams): Promise<RenderResult> {
  const renderer = new Renderer();
  try {
    return await render(renderer, p);
  } finally {
    await renderer.dispose();
  }
}

const pixels = (r: RenderResult) => Buffer.from(r.images[0].pixels);

describe('the SD1.5 session cache with ControlNets', () => {
  it('renders plain → ControlNet → plain → ControlNet loading the model once and the ControlNet once', async () => {
    const expectedPlain = pixels(await fresh(params));
    const expectedControlled = pixels(await fresh(withControlNet()));
    expect(expectedControlled.equals(expectedPlain)).toBe(false);

    const renderer = new Renderer(); // the default cache: one model
    try {
      const stages: RenderStage[][] = [[], [], [], []];
      const results = [
        await render(renderer, params, modelDir, stages[0]),
        await render(renderer, withControlNet(), modelDir, stages[1]),
        await render(renderer, params, modelDir, stages[2]),
        await render(renderer, withControlNet(), modelDir, stages[3]),
      ];
      expect(renderer.sessionLoads).toEqual({ models: 1, controlNets: 1 });
      expect(pixels(results[0]).equals(expectedPlain)).toBe(true);
      expect(pixels(results[1]).equals(expectedControlled)).toBe(true);
      expect(pixels(results[2]).equals(expectedPlain)).toBe(true);
      expect(pixels(results[3]).equals(expectedControlled)).toBe(true);
      // Only the first ControlNet request loads anything beyond the model.
      expect(stages.map((s) => s.includes('loading_assets'))).toEqual([false, true, false, false]);
      expect(results[1].assets?.mergedLoraLayers).toBe(0);
    } finally {
      await renderer.dispose();
    }
  });

  it('loads a ControlNet once for two models and keeps as many ControlNets as models', async () => {
    const renderer = new Renderer({ maxLoadedModels: 2 });
    try {
      const a = await render(renderer, withControlNet(), modelDir);
      const b = await render(renderer, withControlNet(), otherModelDir);
      expect(renderer.sessionLoads).toEqual({ models: 2, controlNets: 1 });
      expect(pixels(a).equals(pixels(b))).toBe(false);
      await render(renderer, withControlNet(otherControlnet), modelDir);
      await render(renderer, { ...withControlNet(), controlnets: [] }, otherModelDir);
      expect(renderer.sessionLoads).toEqual({ models: 2, controlNets: 2 });
      // Up to two ControlNets stay: back to the first loads nothing.
      await render(renderer, withControlNet(), modelDir);
      expect(renderer.sessionLoads).toEqual({ models: 2, controlNets: 2 });
    } finally {
      await renderer.dispose();
    }
  });

  it('counts the model and the ControlNet once against modelCacheBytes', async () => {
    const model = await loadSd15Model(modelDir, {}, { controlnets: [controlnet] });
    const together = (await memoryProfile(model)).weightsBytes; // the model's sessions and the ControlNet
    await model.dispose();
    // Room for the model with its ControlNet, not for the model twice.
    const renderer = new Renderer({ modelCacheBytes: together });
    try {
      for (const p of [params, withControlNet(), params, withControlNet()]) await render(renderer, p);
      expect(renderer.sessionLoads).toEqual({ models: 1, controlNets: 1 });
      // A second ControlNet does not fit beside the first: the least recently used one goes.
      await render(renderer, withControlNet(otherControlnet));
      await render(renderer, withControlNet());
      expect(renderer.sessionLoads).toEqual({ models: 1, controlNets: 3 });
    } finally {
      await renderer.dispose();
    }
  });
});
