/**
 * PyTorch `.pt` files (torch.save's zip format): `<root>/data.pkl` holds the object as a pickle
 * and `<root>/data/<key>` each storage's raw little-endian bytes. Read with the restricted
 * interpreter in pickle.ts, so nothing in the file runs.
 */
import { AssetError } from './asset-error.js';
import { unpickle, type PickleValue, type TensorRef } from './pickle.js';
import { decodeFloats, type AssetTensor, type FloatDtype } from './safetensors.js';
import { readZip } from './zip-reader.js';

const FLOAT_STORAGES: Record<string, FloatDtype> = { FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16' };
const STORAGE_ELEMENT_BYTES: Record<string, number> = {
  FloatStorage: 4,
  HalfStorage: 2,
  BFloat16Storage: 2,
  DoubleStorage: 8,
  LongStorage: 8,
  IntStorage: 4,
};

export interface TorchFile {
  /** The saved object: dicts are Maps, tensors are {@link TensorRef}s until read with `tensor()`. */
  root: PickleValue;
  /** Reads a float tensor the object refers to, widened to float32. */
  tensor(ref: TensorRef): AssetTensor;
}

/** Opens a `.pt` file held in memory. `name` only labels errors. */
export function readTorchFile(bytes: Uint8Array, name?: string): TorchFile {
  const entries = readZip(bytes, name);
  const pickles = [...entries.keys()].filter((entry) => /^[^/]+\/data\.pkl$/.test(entry));
  if (pickles.length !== 1) {
    throw new AssetError(
      'invalid_pickle',
      `expected one <root>/data.pkl in the archive, found ${pickles.length}`,
      name,
    );
  }
  const root = pickles[0].slice(0, -'data.pkl'.length);
  return {
    root: unpickle(entries.get(pickles[0]) as Uint8Array, name),
    tensor: (ref) => readTensor(ref, entries.get(`${root}data/${ref.storage.key}`), name),
  };
}

function readTensor(ref: TensorRef, storageBytes: Uint8Array | undefined, name?: string): AssetTensor {
  const fail = (message: string): never => {
    throw new AssetError('invalid_pickle', message, name);
  };
  const { storageType, key, numel } = ref.storage;
  const dtype = FLOAT_STORAGES[storageType] ?? fail(`tensor in storage ${key} is a ${storageType}, not a float tensor`);
  if (!storageBytes) return fail(`storage ${key} is missing from the archive`);
  if (storageBytes.byteLength !== numel * STORAGE_ELEMENT_BYTES[storageType]) {
    fail(`storage ${key} holds ${storageBytes.byteLength} bytes, not ${numel} × ${storageType}`);
  }
  const { shape, stride, offset } = ref;
  if (shape.length !== stride.length)
    fail(`tensor in storage ${key} has ${shape.length} sizes but ${stride.length} strides`);
  const count = shape.reduce((product, dim) => product * dim, 1);
  // The last element a strided view reaches must lie inside its storage.
  const last = offset + shape.reduce((sum, dim, axis) => sum + (dim > 0 ? (dim - 1) * stride[axis] : 0), 0);
  if (count > 0 && last >= numel) fail(`tensor in storage ${key} reaches element ${last} of ${numel}`);
  const storage = decodeFloats(dtype, storageBytes);
  const values = new Float32Array(count);
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let source = offset;
    for (let axis = 0; axis < shape.length; axis++) source += index[axis] * stride[axis];
    values[i] = storage[source];
    for (let axis = shape.length - 1; axis >= 0 && ++index[axis] === shape[axis]; axis--) index[axis] = 0;
  }
  return { dtype, shape: [...shape], values };
}
