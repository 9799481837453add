/** One ONNX file of a model folder, read for patching: its graph and module index, weights left on disk. */
import { DataType, float32ToFloat16, readModel, readTensorBytes, tensorToFloat32 } from '@kiln/onnx';
import type { ModelProto, TensorProto } from '@kiln/onnx';
import { AssetError } from './asset-error.js';
import { indexModuleWeights, type ModuleWeight } from './module-index.js';

export interface ModelComponent {
  path: string;
  /** The graph, with external initializers still pointing at their files. */
  model: ModelProto;
  modules: Map<string, ModuleWeight>;
}

/** Initializer name → its replacement, the whole of what a patched session changes. */
export type InitializerPatches = Map<string, TensorProto>;

export async function openComponent(path: string): Promise<ModelComponent> {
  const model = await readModel(path, { loadExternalData: false });
  return { path, model, modules: indexModuleWeights(model) };
}

/** An initializer's values as float32, read from the model file or its external data. */
export async function initializerValues(component: ModelComponent, tensor: TensorProto): Promise<Float32Array> {
  const rawData = await readTensorBytes(component.path, tensor);
  return tensorToFloat32({ name: tensor.name, dims: tensor.dims, dataType: tensor.dataType, rawData });
}

/** A replacement initializer holding `values` in the original's name, shape and element type. */
export function replacementTensor(original: TensorProto, values: Float32Array): TensorProto {
  const { name, dims, dataType } = original;
  if (dataType === DataType.FLOAT) {
    return { name, dims, dataType, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  }
  if (dataType === DataType.FLOAT16) {
    // Merged in float32, rounded once to the model's float16 (diffusers fuses an fp16 pipeline in fp16).
    return { name, dims, dataType, rawData: new Uint8Array(float32ToFloat16(values).buffer) };
  }
  throw new AssetError(
    'invalid_model',
    `initializer ${name} has element type ${dataType}; only float32 and float16 weights can be patched`,
  );
}
