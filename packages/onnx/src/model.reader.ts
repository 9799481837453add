import { open, readFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { decodeModel } from './model.codec.js';
import { externalDataLocation, isExternal, resolveExternalPath } from './external-data.js';
import type { ModelProto, TensorProto } from './onnx.types.js';
import { readExactly } from './tensor-data.reader.js';

/** Options for {@link readModel}. */
export interface ReadModelOptions {
  /**
   * Load externally stored initializers into `rawData` (default true). With false, external
   * tensors keep their `externalData` entries and only the graph structure is read.
   */
  loadExternalData?: boolean;
}

/**
 * Reads an ONNX model file. Initializers stored as external data (diffusers' `weights.pb`,
 * optimum's `model.onnx_data`, or one file per tensor) are read from paths relative to the
 * model's folder and inlined as `rawData`, so the result no longer refers to other files.
 */
export async function readModel(path: string, options: ReadModelOptions = {}): Promise<ModelProto> {
  const model = decodeModel(await readFile(path));
  if (options.loadExternalData === false) return model;
  const external = (model.graph?.initializer ?? []).filter(isExternal);
  if (external.length === 0) return model;

  const handles = new Map<string, FileHandle>();
  try {
    for (const tensor of external) {
      const { location, offset, length } = externalDataLocation(tensor);
      const file = resolveExternalPath(path, location);
      let handle = handles.get(file);
      if (!handle) {
        handle = await open(file, 'r');
        handles.set(file, handle);
      }
      const byteLength = length ?? (await handle.stat()).size - offset;
      inlineTensor(tensor, await readExactly(handle, offset, byteLength, tensor.name ?? '?'));
    }
  } finally {
    await Promise.all([...handles.values()].map((handle) => handle.close()));
  }
  return model;
}

function inlineTensor(tensor: TensorProto, bytes: Uint8Array): void {
  tensor.rawData = bytes;
  delete tensor.externalData;
  delete tensor.dataLocation;
}
