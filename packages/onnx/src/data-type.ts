import { DataType } from './onnx.types.js';

/** Element types the graph builder writes, named like onnxruntime's tensor types. */
export type ElementType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

const CODES: Record<ElementType, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  float64: DataType.DOUBLE,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int32: DataType.INT32,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

const BYTES: Record<ElementType, number> = {
  float32: 4,
  float16: 2,
  float64: 8,
  int8: 1,
  uint8: 1,
  int32: 4,
  int64: 8,
  bool: 1,
};

/** The `TensorProto.DataType` code of an element type. */
export function dataTypeCode(type: ElementType): number {
  return CODES[type];
}

/** Bytes per element of an element type. */
export function elementByteSize(type: ElementType): number {
  return BYTES[type];
}

/** The element type of a `TensorProto.DataType` code, or undefined for types the builder does not write. */
export function elementTypeOf(code: number): ElementType | undefined {
  return (Object.keys(CODES) as ElementType[]).find((type) => CODES[type] === code);
}
