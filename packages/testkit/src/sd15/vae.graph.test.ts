import type * as ort from 'onnxruntime-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from './make-sd15-model.js';
import { openSession, randomTensor, signature, summary, values } from './ort.test-helpers.js';

let dir: string;
let decoder: ort.InferenceSession;
let encoder: ort.InferenceSession;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-testkit-vae-'));
  await makeTinySd15Model(dir, { seed: 5 });
  decoder = await openSession(join(dir, 'vae_decoder', 'model.onnx'));
  encoder = await openSession(join(dir, 'vae_encoder', 'model.onnx'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('vae', () => {
  it('has diffusers’ input/output names and types', () => {
    expect(signature(decoder)).toEqual({ inputs: [['latent_sample', 'float32']], outputs: [['sample', 'float32']] });
    expect(signature(encoder)).toEqual({ inputs: [['sample', 'float32']], outputs: [['latent_sample', 'float32']] });
  });

  for (const [batch, height, width] of [
    [1, 8, 8],
    [2, 8, 8],
    [2, 8, 12],
  ]) {
    it(`decodes ${batch}×4×${height}×${width} latents to ${8 * height}×${8 * width} images`, async () => {
      // The pipeline divides latents by 0.18215 before decoding, so decoder inputs are a few units wide.
      const latents = randomTensor('float32', [batch, 4, height, width], `latents-${batch}-${height}-${width}`, 5);
      const { sample } = await decoder.run({ latent_sample: latents });
      expect(sample.dims).toEqual([batch, 3, 8 * height, 8 * width]);
      const { std, nonFinite } = summary(values(sample));
      expect(nonFinite).toBe(0);
      expect(std).toBeGreaterThan(0.05);
      expect(std).toBeLessThan(5);
    });

    it(`encodes ${batch}×3×${8 * height}×${8 * width} images to ${height}×${width} latents`, async () => {
      const image = randomTensor(
        'float32',
        [batch, 3, 8 * height, 8 * width],
        `image-${batch}-${height}-${width}`,
        0.5,
      );
      const { latent_sample } = await encoder.run({ sample: image });
      expect(latent_sample.dims).toEqual([batch, 4, height, width]);
      const { std, nonFinite } = summary(values(latent_sample));
      expect(nonFinite).toBe(0);
      expect(std).toBeGreaterThan(0.01);
      expect(std).toBeLessThan(10);
    });
  }
});
