import { readdir, rm, mkdtemp, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from '@kiln/testkit';
import { OnnxModel, type HostTensor } from '../onnx-session.js';

let root: string;
let unetFile: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-opt-cache-'));
  const made = await makeTinySd15Model(path.join(root, 'model'), { seed: 11 });
  unetFile = path.join(made.dir, 'unet', 'model.onnx');
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** A guided UNet step's inputs with fixed pseudo-random values. */
function unetFeeds(model: OnnxModel): Record<string, HostTensor> {
  const context = model.inputs.get('encoder_hidden_states')?.shape ?? [];
  const dim = Number(context[2]);
  const fill = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.8);
  return {
    sample: { data: fill(2 * 4 * 8 * 8, 1), dims: [2, 4, 8, 8] },
    timestep: { data: new Float32Array([501, 501]), dims: [2] },
    encoder_hidden_states: { data: fill(2 * 77 * dim, 2), dims: [2, 77, dim] },
  };
}

async function runOnce(settings: Parameters<typeof OnnxModel.load>[1]): Promise<Float32Array> {
  const model = await OnnxModel.load(unetFile, settings);
  try {
    const out = await model.run(unetFeeds(model));
    return Object.values(out)[0].data as Float32Array;
  } finally {
    await model.dispose();
  }
}

const entries = async (dir: string) => (await readdir(dir)).filter((n) => n !== 'checksums.json');

describe('optimized-model cache', () => {
  it('writes the optimized model once, loads it next time, and computes the same bits', async () => {
    const cacheDir = path.join(root, 'cache-a');
    const plain = await runOnce({});
    const first = await runOnce({ optimizedModelCacheDir: cacheDir });
    const [entry] = await entries(cacheDir);
    expect(await entries(cacheDir)).toHaveLength(1);
    expect((await readdir(path.join(cacheDir, entry))).sort()).toEqual(['model.onnx', 'source.json', 'weights.bin']);
    const second = await runOnce({ optimizedModelCacheDir: cacheDir });
    expect(await entries(cacheDir)).toEqual([entry]);
    expect(Buffer.from(first.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    expect(Buffer.from(second.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
  });

  it('keeps what loading learnt of the model for the starts that load the cached copy: its attention is fused', async () => {
    const cacheDir = path.join(root, 'cache-facts');
    const fusedOf = async (settings: Parameters<typeof OnnxModel.load>[1]) => {
      const model = await OnnxModel.load(unetFile, settings);
      await model.dispose();
      return model.attentionFused;
    };
    expect(await fusedOf({ optimizedModelCacheDir: cacheDir })).toBe(true); // prepared, then cached
    expect(await fusedOf({ optimizedModelCacheDir: cacheDir })).toBe(true); // from the cache
    expect(await fusedOf({})).toBe(true);
    expect(await fusedOf({ graphFusions: false })).toBe(false);
    expect(await fusedOf({ graphFusions: false, optimizedModelCacheDir: cacheDir })).toBe(false);
  });

  it('keys entries by the files: a changed weight file gets a new entry and the old one is dropped', async () => {
    const cacheDir = path.join(root, 'cache-b');
    const made = await makeTinySd15Model(path.join(root, 'changing'), { seed: 12 });
    const file = path.join(made.dir, 'unet', 'model.onnx');
    const load = async () => (await OnnxModel.load(file, { optimizedModelCacheDir: cacheDir })).dispose();
    await load();
    const [before] = await entries(cacheDir);
    // A file added to the model's folder changes the key as a changed weight would.
    await writeFile(path.join(made.dir, 'unet', 'notes.txt'), 'changed');
    await appendFile(path.join(made.dir, 'unet', 'notes.txt'), '!');
    await load();
    const after = await entries(cacheDir);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
  });

  it('drops an entry that no longer loads and loads the source instead', async () => {
    const cacheDir = path.join(root, 'cache-c');
    await runOnce({ optimizedModelCacheDir: cacheDir });
    const [entry] = await entries(cacheDir);
    await writeFile(path.join(cacheDir, entry, 'model.onnx'), 'not a model');
    const plain = await runOnce({});
    const recovered = await runOnce({ optimizedModelCacheDir: cacheDir });
    expect(Buffer.from(recovered.buffer).equals(Buffer.from(plain.buffer))).toBe(true);
    expect(await entries(cacheDir)).toEqual([]);
  });
});
