/** Writes safetensors files (header JSON padded to 8 bytes, as the reference writer does). */
import { float32ToFloat16 } from '@kiln/onnx';

export interface SafetensorsTensor {
  dtype: 'F32' | 'F16';
  shape: number[];
  values: Float32Array;
}

export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, { dtype, shape, values }] of Object.entries(tensors)) {
    const bytes =
      dtype === 'F32'
        ? new Uint8Array(Float32Array.from(values).buffer)
        : new Uint8Array(float32ToFloat16(values).buffer);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
