/**
 * Textual-inversion embeddings as users bring them: A1111 `.pt` (`string_to_param['*']`),
 * A1111 safetensors (`emb_params`) and diffusers' `{token: vector}` (safetensors or `.pt`).
 * Single- and multi-vector: the result is always `[vectors, dim]`.
 */
import { AssetError } from './asset-error.js';
import type { PickleValue, TensorRef } from './pickle.js';
import { parseSafetensors, type AssetTensor } from './safetensors.js';
import { readTorchFile } from './torch-file.js';

export interface EmbeddingFile {
  name: string;
  /** The token the file was trained with, when its format records one (diffusers' files). */
  token?: string;
  vectors: number;
  dim: number;
  /** Row-major `[vectors, dim]`. */
  values: Float32Array;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Reads an embedding file of any supported format, told apart by content, not by file name. */
export function parseEmbedding(bytes: Uint8Array, name: string): EmbeddingFile {
  const isZip = ZIP_MAGIC.every((byte, i) => bytes[i] === byte);
  // torch.save before 1.6 wrote a bare pickle stream (starting with PROTO), not a zip.
  if (bytes[0] === 0x80) {
    throw new AssetError('invalid_embedding', 'legacy (pre-1.6) torch.save format; re-save it with torch >= 1.6', name);
  }
  const { tensor, token } = isZip ? fromTorch(bytes, name) : fromSafetensors(bytes, name);
  const [vectors, dim] = tensor.shape.length === 1 ? [1, tensor.shape[0]] : tensor.shape;
  if (tensor.shape.length > 2 || vectors === 0 || dim === 0) {
    throw new AssetError(
      'invalid_embedding',
      `embedding has shape [${tensor.shape.join(', ')}], expected [vectors, dim]`,
      name,
    );
  }
  if (!tensor.values.every(Number.isFinite))
    throw new AssetError('invalid_embedding', 'embedding holds non-finite values', name);
  return { name, token, vectors, dim, values: tensor.values };
}

function fromSafetensors(bytes: Uint8Array, name: string): { tensor: AssetTensor; token?: string } {
  const { tensors } = parseSafetensors(bytes, name);
  const a1111 = tensors.get('emb_params');
  if (a1111) return { tensor: a1111 };
  if (tensors.size === 1) {
    const [[token, tensor]] = tensors;
    return { tensor, token };
  }
  throw new AssetError(
    'invalid_embedding',
    `expected emb_params or one {token: vector} entry, found ${tensors.size} tensors`,
    name,
  );
}

function fromTorch(bytes: Uint8Array, name: string): { tensor: AssetTensor; token?: string } {
  const file = readTorchFile(bytes, name);
  const root = file.root;
  if (!(root instanceof Map))
    throw new AssetError('invalid_embedding', 'the .pt file does not hold a dictionary', name);
  const params = root.get('string_to_param');
  if (params instanceof Map) {
    const star = params.get('*');
    if (isTensor(star)) return { tensor: file.tensor(star) };
    throw new AssetError('invalid_embedding', "string_to_param has no '*' tensor", name);
  }
  if (root.size === 1) {
    const [[token, value]] = root;
    if (typeof token === 'string' && isTensor(value)) return { tensor: file.tensor(value), token };
  }
  throw new AssetError(
    'invalid_embedding',
    'expected string_to_param (A1111) or one {token: tensor} entry (diffusers)',
    name,
  );
}

function isTensor(value: PickleValue | undefined): value is TensorRef {
  return typeof value === 'object' && value !== null && 'kind' in value && value.kind === 'tensor';
}
