import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { externalDataLocation, isExternal, resolveExternalPath } from './external-data.js';
import type { TensorProto } from './onnx.types.js';

/**
 * The raw bytes of one initializer of a model read with `loadExternalData: false`: its inline
 * `rawData`, or just its slice of the external data file. Lets a caller patch a few tensors of a
 * multi-gigabyte model without reading the rest.
 */
export async function readTensorBytes(modelPath: string, tensor: TensorProto): Promise<Uint8Array> {
  if (!isExternal(tensor)) {
    if (!tensor.rawData) throw new Error(`initializer ${tensor.name ?? '?'} has no raw data`);
    return tensor.rawData;
  }
  const { location, offset, length } = externalDataLocation(tensor);
  const handle = await open(resolveExternalPath(modelPath, location), 'r');
  try {
    const byteLength = length ?? (await handle.stat()).size - offset;
    return await readExactly(handle, offset, byteLength, tensor.name ?? '?');
  } finally {
    await handle.close();
  }
}

/** Reads `length` bytes at `offset`, failing if the file ends first. */
export async function readExactly(
  handle: FileHandle,
  offset: number,
  length: number,
  name: string,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await handle.read(bytes, read, length - read, offset + read);
    if (bytesRead === 0) throw new Error(`external data for ${name} ends before offset ${offset} + length ${length}`);
    read += bytesRead;
  }
  return bytes;
}
