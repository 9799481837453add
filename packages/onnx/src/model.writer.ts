import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { encodeModel } from './model.codec.js';
import { ExternalDataFile } from './external-data.js';
import { DataLocation } from './onnx.types.js';
import type { ModelProto, TensorProto } from './onnx.types.js';

/** protobuf messages cannot exceed 2 GiB, which is why large models keep weights outside. */
export const PROTOBUF_SIZE_LIMIT = 2 ** 31 - 1;

/** Where to move large initializers when writing a model. */
export interface ExternalDataOptions {
  /** File name relative to the model's folder, e.g. `weights.pb` (diffusers) or `model.onnx_data` (optimum). */
  location: string;
  /** Initializers with at least this many bytes go to the external file (default 1024, as onnx's `save_model`). */
  thresholdBytes?: number;
}

/** Options for {@link writeModel}. */
export interface WriteModelOptions {
  externalData?: ExternalDataOptions;
}

/** Sizes of what {@link writeModel} wrote. */
export interface WrittenModel {
  modelBytes: number;
  externalDataBytes: number;
}

/** Default size threshold for moving an initializer to external data (onnx's `size_threshold`). */
export const DEFAULT_EXTERNAL_THRESHOLD_BYTES = 1024;

/**
 * Streams initializers into a model file: each one is produced, written and released in turn,
 * so a model far larger than memory comfort (a full-size UNet) is never held whole.
 */
export async function writeModelWithInitializers(
  path: string,
  model: ModelProto,
  initializers: Iterable<TensorProto>,
  options: WriteModelOptions = {},
): Promise<WrittenModel> {
  await mkdir(dirname(path), { recursive: true });
  const threshold = options.externalData?.thresholdBytes ?? DEFAULT_EXTERNAL_THRESHOLD_BYTES;
  const external = options.externalData
    ? await ExternalDataFile.create(path, options.externalData.location)
    : undefined;
  const stored: TensorProto[] = [];
  try {
    for (const tensor of initializers) {
      const raw = tensor.rawData;
      if (external && raw && raw.byteLength >= threshold && tensor.dataLocation !== DataLocation.EXTERNAL) {
        const { rawData: _inline, ...meta } = tensor;
        stored.push({ ...meta, dataLocation: DataLocation.EXTERNAL, externalData: await external.append(raw) });
      } else {
        stored.push(tensor);
      }
    }
  } finally {
    await external?.close();
  }
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializer: stored } });
  if (bytes.byteLength > PROTOBUF_SIZE_LIMIT) {
    throw new Error(
      `model ${path} is ${bytes.byteLength} bytes, over protobuf's 2 GiB limit; write it with externalData`,
    );
  }
  await writeFile(path, bytes);
  return { modelBytes: bytes.byteLength, externalDataBytes: external?.byteLength ?? 0 };
}

/**
 * Writes a model to `path`. With `externalData`, initializers of at least `thresholdBytes` are
 * moved to one file beside it (replaced if it exists), the layout diffusers' ONNX export uses.
 */
export async function writeModel(
  path: string,
  model: ModelProto,
  options: WriteModelOptions = {},
): Promise<WrittenModel> {
  return writeModelWithInitializers(path, model, model.graph?.initializer ?? [], options);
}
