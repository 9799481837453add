import { isExternal } from './external-data.js';
import { float16ToFloat32 } from './float16.js';
import { DataType } from './onnx.types.js';
import type { ModelProto, TensorProto } from './onnx.types.js';

/**
 * Finds an initializer by name. PyTorch's exporter deduplicates equal weights and re-exposes the
 * dropped names as `Identity` outputs (e.g. `text_model.final_layer_norm.weight`), so names
 * produced by an `Identity` of an initializer resolve to that initializer.
 */
export function findInitializer(model: ModelProto, name: string): TensorProto | undefined {
  const initializers = model.graph?.initializer ?? [];
  const direct = initializers.find((tensor) => tensor.name === name);
  if (direct) return direct;
  const alias = (model.graph?.node ?? []).find((node) => node.opType === 'Identity' && node.output?.[0] === name);
  const source = alias?.input?.[0];
  return source === undefined ? undefined : findInitializer(model, source);
}

/** Reads a float initializer (FLOAT, FLOAT16, BFLOAT16 or DOUBLE) as float32 values. */
export function readInitializer(model: ModelProto, name: string): Float32Array {
  const tensor = findInitializer(model, name);
  if (!tensor) throw new Error(`initializer ${name} not found`);
  return tensorToFloat32(tensor);
}

/** Number of elements of a tensor (a tensor with no dims is a scalar). */
export function elementCount(tensor: TensorProto): number {
  return (tensor.dims ?? []).reduce((product, dim) => product * dim, 1);
}

/** Decodes a float tensor's values, from `rawData` (little-endian) or the typed repeated fields. */
export function tensorToFloat32(tensor: TensorProto): Float32Array {
  const name = tensor.name ?? '?';
  if (isExternal(tensor)) throw new Error(`initializer ${name} is stored externally; read the model with readModel()`);
  const count = elementCount(tensor);
  const raw = tensor.rawData && tensor.rawData.byteLength > 0 ? tensor.rawData : undefined;
  switch (tensor.dataType) {
    case DataType.FLOAT:
      return raw
        ? new Float32Array(alignedCopy(raw, count * 4, name).buffer)
        : Float32Array.from(tensor.floatData ?? []);
    case DataType.FLOAT16:
      return float16ToFloat32(
        raw ? new Uint16Array(alignedCopy(raw, count * 2, name).buffer) : (tensor.int32Data ?? []),
      );
    case DataType.BFLOAT16: {
      const bits = raw
        ? new Uint16Array(alignedCopy(raw, count * 2, name).buffer)
        : Uint16Array.from(tensor.int32Data ?? []);
      const widened = new Uint32Array(bits.length);
      for (let i = 0; i < bits.length; i++) widened[i] = bits[i] << 16;
      return new Float32Array(widened.buffer);
    }
    case DataType.DOUBLE:
      return Float32Array.from(
        raw ? new Float64Array(alignedCopy(raw, count * 8, name).buffer) : (tensor.doubleData ?? []),
      );
    default:
      throw new Error(`initializer ${name} has non-float data type ${tensor.dataType}`);
  }
}

/** Copies raw bytes into a fresh buffer, so typed-array views are aligned (the source is a view into the file). */
function alignedCopy(raw: Uint8Array, byteLength: number, name: string): Uint8Array {
  if (raw.byteLength !== byteLength)
    throw new Error(`initializer ${name} has ${raw.byteLength} bytes, expected ${byteLength}`);
  const copy = new Uint8Array(byteLength);
  copy.set(raw);
  return copy;
}
