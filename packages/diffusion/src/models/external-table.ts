/**
 * onnxruntime's in-memory external data: initializers whose bytes Kiln holds (patched by a LoRA,
 * widened from fp16) are handed to a session as named buffers instead of being written to disk or
 * left inside graph bytes that would exceed protobuf's 2 GB limit.
 */
import { DataLocation, type TensorProto } from '@kiln/onnx';

export interface ExternalTable {
  /** The initializers, those that moved now pointing at their entry in `externalData`. */
  moved: TensorProto[];
  /** The entries for `SessionOptions.externalData`. */
  externalData: { path: string; data: Uint8Array }[];
}

/** Moves the raw bytes of every initializer `shouldMove` picks into the table, named `<prefix>-<index>.bin`. */
export function moveToExternalTable(
  tensors: readonly TensorProto[],
  prefix: string,
  shouldMove: (rawData: Uint8Array, tensor: TensorProto) => boolean,
): ExternalTable {
  const externalData: ExternalTable['externalData'] = [];
  const moved = tensors.map((tensor, index): TensorProto => {
    if (!tensor.rawData || !shouldMove(tensor.rawData, tensor)) return tensor;
    const location = `${prefix}-${index}.bin`;
    externalData.push({ path: location, data: tensor.rawData });
    const { rawData, ...meta } = tensor;
    return {
      ...meta,
      dataLocation: DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: '0' },
        { key: 'length', value: String(rawData.byteLength) },
      ],
    };
  });
  return { moved, externalData };
}
