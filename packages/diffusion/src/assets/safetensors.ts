/**
 * The safetensors format: an 8-byte little-endian header length, a JSON header mapping tensor
 * names to `{dtype, shape, data_offsets}` (offsets relative to the end of the header), then the
 * tensor bytes. Every number in the header is untrusted: each is checked against the file's real
 * size before anything is sliced or allocated, and the tensors must tile the data area without
 * overlapping (the format's own validation rule).
 */
import { float16ToFloat32 } from '@kiln/onnx';
import { AssetError } from './asset-error.js';

/** The float dtypes a LoRA or an embedding uses. */
export type FloatDtype = 'F32' | 'F16' | 'BF16';

/** A float tensor read from an asset file, widened to float32 (exactly: F16 and BF16 fit in F32). */
export interface AssetTensor {
  /** The dtype the file stored. */
  dtype: FloatDtype;
  shape: number[];
  values: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, AssetTensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

const BYTES_PER_ELEMENT: Record<FloatDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** The header is JSON describing tensors; 100 MB is the limit the reference implementation uses too. */
const MAX_HEADER_BYTES = 100_000_000;

/** Parses and validates a safetensors file held in memory. `name` only labels errors. */
export function parseSafetensors(bytes: Uint8Array, name?: string): SafetensorsFile {
  const fail = (message: string): never => {
    throw new AssetError('invalid_safetensors', message, name);
  };
  if (bytes.byteLength < 8) fail(`file is ${bytes.byteLength} bytes, shorter than the 8-byte header length field`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(
      `header length field says ${headerLength} bytes but only ${bytes.byteLength - 8} follow it ` +
        '(truncated, or not safetensors)',
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    fail(`header of ${headerLength} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerEnd = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (err) {
    fail(`header is not valid UTF-8 JSON: ${(err as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');

  const dataLength = bytes.byteLength - headerEnd;
  const entries: Array<{ key: string; dtype: FloatDtype; shape: number[]; begin: number; end: number }> = [];
  let metadata: Record<string, string> = {};
  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      metadata = parseMetadata(raw, fail);
      continue;
    }
    entries.push({ key, ...parseEntry(key, raw, dataLength, fail) });
  }

  // Sorted by offset, each tensor must start where the previous one ended: no overlaps, no gaps.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const entry of entries) {
    if (entry.begin < expected)
      fail(`tensor ${entry.key} overlaps the previous tensor (starts at ${entry.begin}, before ${expected})`);
    if (entry.begin > expected) fail(`gap of ${entry.begin - expected} bytes before tensor ${entry.key}`);
    expected = entry.end;
  }
  if (expected !== dataLength) fail(`tensors cover ${expected} bytes but the data area holds ${dataLength}`);

  const tensors = new Map<string, AssetTensor>();
  for (const { key, dtype, shape, begin, end } of entries) {
    tensors.set(key, { dtype, shape, values: decodeFloats(dtype, bytes.subarray(headerEnd + begin, headerEnd + end)) });
  }
  return { tensors, metadata };
}

function parseMetadata(raw: unknown, fail: (message: string) => never): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof value !== 'string') fail(`__metadata__.${key} is not a string`);
    out[key] = value as string;
  }
  return out;
}

function parseEntry(key: string, raw: unknown, dataLength: number, fail: (message: string) => never) {
  if (typeof raw !== 'object' || raw === null) fail(`tensor ${key}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') {
    fail(`tensor ${key}: dtype ${JSON.stringify(dtype)} is not supported (F32, F16 or BF16)`);
  }
  const isSize = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  if (!Array.isArray(shape) || !shape.every(isSize))
    fail(`tensor ${key}: shape is not a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize))
    fail(`tensor ${key}: data_offsets is not [begin, end]`);
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`tensor ${key}: data_offsets [${begin}, ${end}] run backwards`);
  if (end > dataLength)
    fail(`tensor ${key}: data_offsets end ${end} is past the end of the data (${dataLength} bytes)`);
  // Computed in floating point only after the span is known to fit the file, so it cannot overflow silently.
  const elements = (shape as number[]).reduce((product, dim) => product * dim, 1);
  const span = elements * BYTES_PER_ELEMENT[dtype as FloatDtype];
  if (span !== end - begin) {
    fail(
      `tensor ${key}: shape [${(shape as number[]).join(', ')}] × ${dtype} is ${span} bytes ` +
        `but data_offsets span ${end - begin}`,
    );
  }
  return { dtype: dtype as FloatDtype, shape: [...(shape as number[])], begin, end };
}

/** Widens little-endian F32/F16/BF16 bytes to float32 values. */
export function decodeFloats(dtype: FloatDtype, raw: Uint8Array): Float32Array {
  // Copy first: the slice need not be aligned for a typed-array view.
  const aligned = new Uint8Array(raw.byteLength);
  aligned.set(raw);
  if (dtype === 'F32') return new Float32Array(aligned.buffer);
  const bits = new Uint16Array(aligned.buffer);
  if (dtype === 'F16') return float16ToFloat32(bits);
  const widened = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) widened[i] = bits[i] << 16;
  return new Float32Array(widened.buffer);
}
