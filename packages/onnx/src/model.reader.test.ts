import * as ort from 'onnxruntime-node';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphBuilder } from './graph.builder.js';
import { findInitializer, readInitializer } from './initializer.reader.js';
import { decodeModel, encodeModel } from './model.codec.js';
import { readModel } from './model.reader.js';
import { writeModel } from './model.writer.js';
import { DataLocation } from './onnx.types.js';

const dir = await mkdtemp(join(tmpdir(), 'kiln-onnx-reader-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const bigValues = Float32Array.from({ length: 64 * 32 }, (_, i) => Math.sin(i) * 0.1);
const smallValues = Float32Array.from({ length: 32 }, (_, i) => i / 32);

/** y = x @ big + small, and z = x @ float(half), where `half` is a float16 copy of `big`. */
function model() {
  const g = new GraphBuilder('external');
  const x = g.addInput('x', 'float32', ['batch', 64]);
  const big = g.addInitializer('big.weight', 'float32', [64, 32], bigValues);
  const small = g.addInitializer('small.bias', 'float32', [32], smallValues);
  const half = g.addInitializer('big.half', 'float16', [64, 32], bigValues);
  g.addOutput('y', 'float32', ['batch', 32], g.op('Add', [g.op('MatMul', [x, big]), small]));
  g.addOutput('z', 'float32', ['batch', 32], g.op('MatMul', [x, g.op('Cast', [half], { to: 1 })]));
  return g;
}

async function runModel(path: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  const x = new ort.Tensor(
    'float32',
    Float32Array.from({ length: 64 }, (_, i) => (i % 7) - 3),
    [1, 64],
  );
  return (await session.run({ x })).y.data as Float32Array;
}

describe('external data', () => {
  for (const [folder, location] of [
    ['diffusers', 'weights.pb'],
    ['optimum', 'model.onnx_data'],
  ] as const) {
    it(`writes and reads ${location} (${folder} layout)`, async () => {
      const path = join(dir, folder, 'model.onnx');
      const written = await model().write(path, { externalData: { location } });
      expect(written.externalDataBytes).toBe(bigValues.byteLength + bigValues.length * 2);
      expect((await stat(join(dir, folder, location))).size).toBe(written.externalDataBytes);

      const structure = decodeModel(await readFile(path));
      expect(findInitializer(structure, 'big.weight')?.dataLocation).toBe(DataLocation.EXTERNAL);
      expect(findInitializer(structure, 'small.bias')?.dataLocation).toBeUndefined(); // 128 bytes stay inline
      expect(() => readInitializer(structure, 'big.weight')).toThrow(/stored externally/);

      const loaded = await readModel(path);
      expect(readInitializer(loaded, 'big.weight')).toEqual(bigValues);
      expect(readInitializer(loaded, 'small.bias')).toEqual(smallValues);
      const half = readInitializer(loaded, 'big.half');
      half.forEach((value, i) =>
        expect(Math.abs(value - bigValues[i])).toBeLessThanOrEqual(Math.abs(bigValues[i]) / 1024 + 1e-7),
      );

      // onnxruntime resolves the external file itself; a re-inlined copy computes the same thing.
      const fromExternal = await runModel(path);
      const inlinePath = join(dir, folder, 'inline.onnx');
      await writeModel(inlinePath, loaded);
      expect(await runModel(inlinePath)).toEqual(fromExternal);
    });
  }

  it('keeps external references when asked not to load them', async () => {
    const path = join(dir, 'lazy', 'model.onnx');
    await model().write(path, { externalData: { location: 'weights.pb' } });
    const lazy = await readModel(path, { loadExternalData: false });
    expect(findInitializer(lazy, 'big.weight')?.externalData?.[0]).toEqual({ key: 'location', value: 'weights.pb' });
  });

  it('refuses external data outside the model folder', async () => {
    const built = model().toModel();
    const tensor = findInitializer(built, 'big.weight')!;
    delete tensor.rawData;
    tensor.dataLocation = DataLocation.EXTERNAL;
    tensor.externalData = [{ key: 'location', value: '../secret.bin' }];
    await mkdir(join(dir, 'escape'), { recursive: true });
    const path = join(dir, 'escape', 'model.onnx');
    await writeModel(path, built);
    await expect(readModel(path)).rejects.toThrow(/outside the model folder/);
  });

  it('resolves names that the exporter re-exposes through Identity nodes', () => {
    const built = model().toModel();
    built.graph!.node!.push({ opType: 'Identity', input: ['small.bias'], output: ['alias.bias'] });
    expect(readInitializer(decodeModel(encodeModel(built)), 'alias.bias')).toEqual(smallValues);
  });
});
