import { ModelProtoType } from './onnx.schema.js';
import type { ModelProto } from './onnx.types.js';

/** Serializes a model to ONNX protobuf bytes (the content of a `.onnx` file). */
export function encodeModel(model: ModelProto): Uint8Array {
  const message = ModelProtoType.fromObject(model);
  return ModelProtoType.encode(message).finish();
}

/**
 * Parses ONNX protobuf bytes. Byte fields (`rawData`) are views into `bytes`, not copies, so
 * decoding a large inline model does not double its memory.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const message = ModelProtoType.decode(bytes);
  return ModelProtoType.toObject(message, {
    longs: Number,
    enums: Number,
    arrays: false,
    defaults: false,
  }) as ModelProto;
}
