export { encodeModel, decodeModel } from './model.codec.js';
export { readModel } from './model.reader.js';
export type { ReadModelOptions } from './model.reader.js';
export { writeModel, DEFAULT_EXTERNAL_THRESHOLD_BYTES, PROTOBUF_SIZE_LIMIT } from './model.writer.js';
export type { ExternalDataOptions, WriteModelOptions, WrittenModel } from './model.writer.js';
export { readInitializer, findInitializer, tensorToFloat32, elementCount } from './initializer.reader.js';
export { readTensorBytes } from './tensor-data.reader.js';
export { GraphBuilder, makeTensor, floatAttribute, FloatAttribute } from './graph.builder.js';
export type { AttributeValue, Dim, ModelOptions, TensorSource, TensorValues } from './graph.builder.js';
export { externalDataLocation, isExternal, resolveExternalPath } from './external-data.js';
export type { ExternalDataLocation } from './external-data.js';
export { float32ToFloat16, float32ToFloat16Bits, float16ToFloat32, float16BitsToFloat32 } from './float16.js';
export { dataTypeCode, elementByteSize, elementTypeOf } from './data-type.js';
export type { ElementType } from './data-type.js';
export { DataType, DataLocation, AttributeType } from './onnx.types.js';
export type {
  AttributeProto,
  DataTypeCode,
  GraphProto,
  ModelProto,
  NodeProto,
  OperatorSetId,
  StringStringEntry,
  TensorProto,
  TensorShapeDimension,
  TypeProto,
  ValueInfoProto,
} from './onnx.types.js';
