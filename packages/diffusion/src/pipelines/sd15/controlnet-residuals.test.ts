/**
 * ControlNets on the testkit's tiny model with a ControlNet (`makeTinySd15Model({ controlnet: true })`):
 * the same UNet weights as the plain tiny model, exported with residual inputs, and a ControlNet of
 * its layout. Without a ControlNet (zeros fed) and at scale 0 the image is the plain model's bit for
 * bit; a ControlNet acts at scale 1, one call per step per ControlNet; its memory is estimated.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from '@kiln/testkit';
import { loadSd15Model, type Sd15Model } from '../../models/sd15-model.js';
import type { RgbImage } from '../../image/raster.js';
import { planMemory } from './memory-plan.js';
import type { RenderParams } from './render-params.js';
import { textToImage } from './text-to-image.pipeline.js';
import type { ControlNetInput } from './controlnet-residuals.js';

let root: string;
let plain: Sd15Model;
let controlled: Sd15Model;
let intelNamed: Sd15Model;
let controlnetFile: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-controlnet-'));
  const a = await makeTinySd15Model(path.join(root, 'plain'), { seed: 0 });
  const b = await makeTinySd15Model(path.join(root, 'controlnet'), { seed: 0, controlnet: true });
  controlnetFile = path.join(b.dir, 'controlnet', 'model.onnx');
  plain = await loadSd15Model(a.dir);
  controlled = await loadSd15Model(b.dir, {}, { controlnets: [controlnetFile] });
  const c = await makeTinySd15Model(path.join(root, 'intel'), {
    seed: 0,
    controlnet: true,
    residualNames: 'optimum-intel',
  });
  intelNamed = await loadSd15Model(c.dir, {}, { controlnets: [controlnetFile] });
}, 60_000);
afterAll(async () => {
  await plain?.dispose();
  await controlled?.dispose();
  await intelNamed?.dispose();
  await rm(root, { recursive: true, force: true });
});

const params: RenderParams = {
  prompt: 'a red square',
  negativePrompt: '',
  sampler: 'DDIM',
  steps: 4,
  cfgScale: 7.5,
  width: 64,
  height: 48,
  seeds: [3, 4],
  clipSkip: 1,
  microBatchSize: 2,
};

/** A white ring on black: edges for the ControlNet to follow. */
function ring(width: number, height: number): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const r = Math.hypot(x - width / 2, y - height / 2);
      if (Math.abs(r - 14) < 1.5) pixels.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
    }
  return { width, height, pixels };
}

const control = (scale: number, end = 1): ControlNetInput[] => [
  { model: controlnetFile, image: ring(64, 48), scale, end },
];

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => Object.is(v, b[i]) || v === b[i]);

describe('the testkit ControlNet model', () => {
  it('has residual inputs matching its ControlNet (4 down + mid for the tiny 2-block, 1-layer UNet)', () => {
    expect(plain.unetResiduals).toBeUndefined();
    expect(controlled.unetResiduals?.down).toEqual([0, 1, 2, 3].map((i) => `down_block_additional_residuals.${i}`));
    expect(controlled.unetLayersPerBlock).toBe(1);
    const net = controlled.controlnets.get(controlnetFile);
    expect(net?.downOutputs).toHaveLength(4);
    expect(net?.downChannels).toEqual(controlled.unetResiduals?.downChannels);
    expect(net?.hasScaleInput).toBe(true);
  });

  it('renders the plain model bit for bit without a ControlNet and at scale 0, not at scale 1', async () => {
    const reference = await textToImage(plain, params);
    const none = await textToImage(controlled, params);
    const zero = await textToImage(controlled, { ...params, controlnets: control(0) });
    const stopped = await textToImage(controlled, { ...params, controlnets: control(1, 0) });
    const full = await textToImage(controlled, { ...params, controlnets: control(1) });
    for (let i = 0; i < 2; i++) {
      expect(same(none.latents[i], reference.latents[i])).toBe(true);
      expect(same(zero.latents[i], reference.latents[i])).toBe(true);
      expect(same(stopped.latents[i], reference.latents[i])).toBe(true);
      expect(same(full.latents[i], reference.latents[i])).toBe(false);
    }
  });

  it("takes a UNet with optimum-intel's residual names (bare name last in the graph) as the same inputs", async () => {
    expect([...intelNamed.unet.inputs.keys()].slice(3)).toEqual([
      'down_block_additional_residual_1',
      'down_block_additional_residual_3',
      'down_block_additional_residual_5',
      'down_block_additional_residual',
      'mid_block_additional_residual',
    ]);
    expect(intelNamed.unetResiduals?.down).toEqual([
      'down_block_additional_residual',
      'down_block_additional_residual_1',
      'down_block_additional_residual_3',
      'down_block_additional_residual_5',
    ]);
    const p = { ...params, controlnets: control(1) };
    const diffusersNamed = await textToImage(controlled, p);
    const intel = await textToImage(intelNamed, p);
    for (let i = 0; i < 2; i++) expect(same(intel.latents[i], diffusersNamed.latents[i])).toBe(true);
  });

  it('runs one ControlNet call per step per ControlNet', async () => {
    const net = controlled.controlnets.get(controlnetFile);
    const before = net?.session.runCount ?? 0;
    await textToImage(controlled, { ...params, seeds: [1], controlnets: [...control(1), ...control(0.5)] });
    expect((net?.session.runCount ?? 0) - before).toBe(2 * params.steps);
  });

  it('estimates the ControlNet run into the memory plan', async () => {
    const without = await planMemory(controlled, params, { promptChunks: 1, encodesImage: false });
    const withOne = await planMemory(
      controlled,
      { ...params, controlnets: control(1) },
      { promptChunks: 1, encodesImage: false },
    );
    expect(without.estimate.controlNetBytes).toBe(0);
    expect(withOne.estimate.controlNetBytes).toBeGreaterThan(0);
    expect(withOne.estimate.totalBytes).toBe(without.estimate.totalBytes + withOne.estimate.controlNetBytes);
  });
});
