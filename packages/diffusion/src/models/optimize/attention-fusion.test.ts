import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModel, type ModelProto } from '@kiln/onnx';
import { makeTinySd15Model } from '@kiln/testkit';
import { fuseAttention } from './attention-fusion.js';
import { prepareModel } from './prepare-model.js';

const fixture = (part: string) =>
  fileURLToPath(new URL(`../../../../../test/fixtures/diffusers-tiny-sd15/${part}/model.onnx`, import.meta.url));

let root: string;
let testkitUnet: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-attention-fusion-'));
  testkitUnet = path.join((await makeTinySd15Model(path.join(root, 'model'), { seed: 5 })).dir, 'unet', 'model.onnx');
});
afterAll(() => rm(root, { recursive: true, force: true }));

const opCount = (model: ModelProto, op: string) => (model.graph?.node ?? []).filter((n) => n.opType === op).length;

/** A guided UNet call at an 8×8 latent with fixed inputs. */
async function unetOutput(session: ort.InferenceSession): Promise<Float32Array> {
  const context = session.inputMetadata.find((m) => m.name === 'encoder_hidden_states');
  const dim = context?.isTensor ? Number(context.shape[2]) : 0;
  const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
  const out = await session.run({
    sample: new ort.Tensor('float32', fill(2 * 4 * 8 * 8, 1), [2, 4, 8, 8]),
    timestep: new ort.Tensor('float32', new Float32Array([700, 700]), [2]),
    encoder_hidden_states: new ort.Tensor('float32', fill(2 * 77 * dim, 2), [2, 77, dim]),
  });
  return Object.values(out)[0].data as Float32Array;
}

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('attention fusion', () => {
  it.each([
    ["diffusers' export (baddbmm, batch and heads merged)", () => fixture('unet')],
    ["the testkit's UNet (4-D heads)", () => testkitUnet],
  ])('replaces every attention of %s with MultiHeadAttention, within float rounding', async (_, file) => {
    const model = await readModel(file(), { loadExternalData: false });
    const softmaxes = opCount(model, 'Softmax');
    expect(softmaxes).toBeGreaterThan(0);
    expect(fuseAttention(model)).toEqual({ fused: softmaxes, unfused: 0 });
    expect(opCount(model, 'Softmax')).toBe(0);
    expect(opCount(model, 'MultiHeadAttention')).toBe(softmaxes);

    const prepared = await prepareModel(file());
    expect(prepared?.attention).toBe(softmaxes);
    const plain = await ort.InferenceSession.create(file(), { executionProviders: ['cpu'] });
    const fused = await ort.InferenceSession.create(prepared?.bytes as Uint8Array, {
      executionProviders: ['cpu'],
      ...prepared?.options,
    });
    const [a, b] = [await unetOutput(plain), await unetOutput(fused)];
    await Promise.all([plain.release(), fused.release()]);
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
  });

  it('leaves attention with a mask alone (CLIP: causal mask)', async () => {
    const model = await readModel(fixture('text_encoder'), { loadExternalData: false });
    expect(opCount(model, 'Softmax')).toBeGreaterThan(0);
    expect(fuseAttention(model)).toEqual({ fused: 0, unfused: opCount(model, 'Softmax') });
    expect(await prepareModel(fixture('text_encoder'))).toBeUndefined();
  });
});
