import { describe, expect, it } from 'vitest';
import { GraphBuilder, floatAttribute, makeTensor } from './graph.builder.js';
import { decodeModel, encodeModel } from './model.codec.js';
import { AttributeType, DataType } from './onnx.types.js';

function sampleModel() {
  const g = new GraphBuilder('sample');
  const x = g.addInput('x', 'float32', ['batch', 3, 'height', 'width']);
  const w = g.addInitializer('conv.weight', 'float32', [2, 3, 1, 1], [0.5, -1, 2, 0.25, 0, -0.75]);
  const y = g.scope('conv', () => g.op('Conv', [x, w], { kernel_shape: [1, 1], pads: [0, 0, 0, 0] }));
  const scaled = g.op('Mul', [y, g.constant('float32', [], [1.5])]);
  const norm = g.op('LeakyRelu', [scaled], { alpha: floatAttribute(1) });
  g.op('Identity', [g.constant('int64', [2], [7, -3])]);
  g.addOutput('y', 'float32', ['batch', 2, 'height', 'width'], norm);
  return g.toModel({ producerName: 'codec-test' });
}

describe('model codec', () => {
  it('round-trips a model through protobuf bytes', () => {
    const model = sampleModel();
    const bytes = encodeModel(model);
    const decoded = decodeModel(bytes);

    expect(decoded.irVersion).toBe(8);
    expect(decoded.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(decoded.producerName).toBe('codec-test');
    expect(decoded.graph?.input?.[0].type?.tensorType?.shape?.dim).toEqual([
      { dimParam: 'batch' },
      { dimValue: 3 },
      { dimParam: 'height' },
      { dimParam: 'width' },
    ]);
    const init = decoded.graph?.initializer?.[0];
    expect(init?.name).toBe('conv.weight');
    expect(init?.dims).toEqual([2, 3, 1, 1]);
    expect(init?.dataType).toBe(DataType.FLOAT);
    expect(Array.from(new Float32Array(Uint8Array.from(init!.rawData!).buffer))).toEqual([0.5, -1, 2, 0.25, 0, -0.75]);

    const conv = decoded.graph?.node?.find((node) => node.opType === 'Conv');
    expect(conv?.name).toBe('/conv/Conv');
    expect(conv?.attribute?.find((a) => a.name === 'kernel_shape')).toMatchObject({
      type: AttributeType.INTS,
      ints: [1, 1],
    });
    const leaky = decoded.graph?.node?.find((node) => node.opType === 'LeakyRelu');
    expect(leaky?.attribute?.[0]).toMatchObject({ name: 'alpha', type: AttributeType.FLOAT, f: 1 });
    const int64Constant = decoded.graph?.node?.filter((node) => node.opType === 'Constant')[1];
    const tensor = int64Constant?.attribute?.[0].t;
    expect(tensor?.dataType).toBe(DataType.INT64);
    expect(Array.from(new BigInt64Array(Uint8Array.from(tensor!.rawData!).buffer))).toEqual([7n, -3n]);

    // Re-encoding the decoded model reproduces the same bytes.
    expect(Buffer.from(encodeModel(decoded)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('rejects tensors whose value count does not match their dims', () => {
    expect(() => makeTensor('bad', 'float32', [2, 2], [1, 2, 3])).toThrow(/3 values/);
  });
});
