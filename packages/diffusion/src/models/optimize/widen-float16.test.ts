import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from '@kiln/testkit';
import { OnnxModel } from '../onnx-session.js';
import { prepareModel } from './prepare-model.js';

let root: string;
let unet16: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-widen-'));
  unet16 = path.join((await makeTinySd15Model(path.join(root, 'fp16'), { seed: 4, fp16: true })).dir, 'unet', 'model.onnx');
});
afterAll(() => rm(root, { recursive: true, force: true }));

const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));

async function kilnOutput(settings: Parameters<typeof OnnxModel.load>[1]) {
  const model = await OnnxModel.load(unet16, settings);
  const dim = Number(model.inputs.get('encoder_hidden_states')?.shape[2]);
  const out = await model.run({
    sample: { data: fill(2 * 4 * 8 * 8, 1), dims: [2, 4, 8, 8] },
    timestep: { data: new Float32Array([700, 700]), dims: [2] },
    encoder_hidden_states: { data: fill(2 * 77 * dim, 2), dims: [2, 77, dim] },
  });
  const types = [...model.inputs.values()].map((i) => i.type);
  await model.dispose();
  return { data: Object.values(out)[0].data as Float32Array, types };
}

describe('fp16 graphs widened to float32 on the CPU', () => {
  it('converts every float16 weight once, keeps the float16 interface, and fuses the attention', async () => {
    const prepared = await prepareModel(unet16);
    expect(prepared?.widened).toBeGreaterThan(0);
    expect(prepared?.attention).toBeGreaterThan(0);
    const session = await ort.InferenceSession.create(prepared?.bytes as Uint8Array, { ...prepared?.options });
    const sample = session.inputMetadata.find((m) => m.name === 'sample');
    expect(sample?.isTensor && sample.type).toBe('float16');
    await session.release();
  });

  it('computes what onnxruntime computes on the fp16 graph, within float16 rounding', async () => {
    const widened = await kilnOutput({});
    const plain = await kilnOutput({ graphFusions: false });
    expect(widened.types).toEqual(plain.types);
    const scale = plain.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const diff = widened.data.reduce((m, v, i) => Math.max(m, Math.abs(v - plain.data[i])), 0);
    expect(scale).toBeGreaterThan(0);
    expect(diff / scale).toBeLessThan(1e-2);
  });

  it('goes through the optimized-model cache: the cached float32 graph gives the same bits', async () => {
    const cacheDir = path.join(root, 'cache');
    const first = await kilnOutput({ optimizedModelCacheDir: cacheDir });
    const second = await kilnOutput({ optimizedModelCacheDir: cacheDir });
    expect((await readdir(cacheDir)).filter((n) => n !== 'checksums.json')).toHaveLength(1);
    expect(Buffer.from(second.data.buffer).equals(Buffer.from(first.data.buffer))).toBe(true);
  });
});
