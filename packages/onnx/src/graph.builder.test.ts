import * as ort from 'onnxruntime-node';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';
import { GraphBuilder } from './graph.builder.js';
import { encodeModel } from './model.codec.js';

const dir = await mkdtemp(join(tmpdir(), 'kiln-onnx-builder-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** y = relu(x @ W + b) in plain JS, the reference for the ONNX graph below. */
function reference(x: number[], rows: number, w: number[], b: number[], outFeatures: number): number[] {
  const inFeatures = w.length / outFeatures;
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outFeatures; o++) {
      let sum = b[o];
      for (let i = 0; i < inFeatures; i++) sum += x[r * inFeatures + i] * w[i * outFeatures + o];
      y.push(Math.max(0, sum));
    }
  }
  return y;
}

function linearReluModel(type: 'float32' | 'float16', w: number[], b: number[]) {
  const g = new GraphBuilder('linear');
  const x = g.addInput('x', type, ['batch', 3]);
  const weight = g.addInitializer('fc.weight', type, [3, 2], () => Float32Array.from(w));
  const bias = g.addInitializer('fc.bias', type, [2], Float32Array.from(b));
  const y = g.scope('fc', () => g.op('Add', [g.op('MatMul', [x, weight]), bias]));
  g.addOutput('y', type, ['batch', 2], g.op('Relu', [y]));
  return g;
}

describe('GraphBuilder', () => {
  const w = [0.5, -1, 2, 0.25, -0.5, 1.5];
  const b = [0.1, -0.2];
  const x = [1, 2, 3, -1, 0.5, 2];

  it('builds a model that onnxruntime runs with the expected result', async () => {
    const session = await ort.InferenceSession.create(encodeModel(linearReluModel('float32', w, b).toModel()));
    expect(session.inputNames).toEqual(['x']);
    expect(session.outputNames).toEqual(['y']);
    const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.from(x), [2, 3]) });
    expect(y.dims).toEqual([2, 2]);
    const expected = reference(x, 2, w, b, 2);
    Array.from(y.data as Float32Array).forEach((value, i) => expect(value).toBeCloseTo(expected[i], 5));
  });

  it('writes float16 weights and I/O that onnxruntime runs', async () => {
    const path = join(dir, 'fp16.onnx');
    await linearReluModel('float16', w, b).write(path);
    const session = await ort.InferenceSession.create(path);
    const input = new ort.Tensor('float16', float32ToFloat16(x), [2, 3]);
    const { y } = await session.run({ x: input });
    expect(y.type).toBe('float16');
    const expected = reference(Array.from(float16ToFloat32(float32ToFloat16(x))), 2, w, b, 2);
    Array.from(float16ToFloat32(y.data as Uint16Array)).forEach((value, i) =>
      expect(value).toBeCloseTo(expected[i], 2),
    );
  });

  it('refuses duplicate names', () => {
    const g = new GraphBuilder();
    g.addInput('x', 'float32', [1]);
    expect(() => g.addInitializer('x', 'float32', [1], [0])).toThrow(/already used/);
  });

  it('names nodes by scope like the PyTorch exporter', () => {
    const g = new GraphBuilder();
    const x = g.addInput('x', 'float32', [1]);
    g.scope('block', () => g.scope('norm', () => [g.op('Relu', [x]), g.op('Relu', [x])]));
    const names = g.toModel().graph!.node!.map((node) => [node.name, node.output![0]]);
    expect(names).toEqual([
      ['/block/norm/Relu', '/block/norm/Relu_output_0'],
      ['/block/norm/Relu_1', '/block/norm/Relu_1_output_0'],
    ]);
  });
});
