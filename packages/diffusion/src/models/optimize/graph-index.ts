/**
 * Lookups a fusion pass needs over an ONNX graph: who produces and who consumes each value, and the
 * values of small constants (Constant nodes and inline initializers).
 */
import { DataType, type GraphProto, type NodeProto, type TensorProto } from '@kiln/onnx';

export class GraphIndex {
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  private readonly initializers = new Map<string, TensorProto>();
  private readonly graphOutputs: Set<string>;

  constructor(readonly graph: GraphProto) {
    for (const node of graph.node ?? []) {
      for (const out of node.output ?? []) this.producer.set(out, node);
      for (const input of node.input ?? []) {
        if (!input) continue;
        const list = this.consumers.get(input) ?? [];
        list.push(node);
        this.consumers.set(input, list);
      }
    }
    for (const tensor of graph.initializer ?? []) if (tensor.name) this.initializers.set(tensor.name, tensor);
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  }

  /** The node producing `value` when it has the given op type (default domain). */
  producedBy(value: string | undefined, opType: string): NodeProto | undefined {
    const node = value === undefined ? undefined : this.producer.get(value);
    return node && node.opType === opType && !node.domain ? node : undefined;
  }

  /** Whether `value` is read by exactly this one node and is not a graph output (so it may disappear with it). */
  onlyFeeds(value: string | undefined, node: NodeProto): boolean {
    if (value === undefined || this.graphOutputs.has(value)) return false;
    const list = this.consumers.get(value) ?? [];
    return list.length === 1 && list[0] === node;
  }

  /** A small constant's values (float or integer data), from a Constant node or an inline initializer. */
  constantValues(value: string | undefined): number[] | undefined {
    if (value === undefined) return undefined;
    const constant = this.producedBy(value, 'Constant');
    const tensor =
      constant?.attribute?.find((a) => a.name === 'value')?.t ?? (constant ? undefined : this.initializers.get(value));
    return tensor ? tensorValues(tensor) : undefined;
  }
}

/** An integer attribute list (a Transpose's perm). */
export function intsAttribute(node: NodeProto, name: string): number[] | undefined {
  return node.attribute?.find((a) => a.name === name)?.ints?.map(Number);
}

export function intAttribute(node: NodeProto, name: string): number | undefined {
  const attribute = node.attribute?.find((a) => a.name === name);
  return attribute?.i === undefined ? undefined : Number(attribute.i);
}

/** Constants larger than this are weights, not shapes or scales: not read. */
const MAX_CONSTANT_BYTES = 256;

function tensorValues(tensor: TensorProto): number[] | undefined {
  // A copy: protobufjs may hand out Node Buffers (views into a pool, at any alignment).
  const raw = tensor.rawData && tensor.rawData.byteLength <= MAX_CONSTANT_BYTES ? new Uint8Array(tensor.rawData) : undefined;
  switch (tensor.dataType) {
    case DataType.FLOAT:
      if (tensor.floatData?.length) return tensor.floatData.map(Number);
      return raw ? Array.from(new Float32Array(raw.buffer)) : undefined;
    case DataType.INT64:
      if (tensor.int64Data?.length) return tensor.int64Data.map(Number);
      return raw ? Array.from(new BigInt64Array(raw.buffer), Number) : undefined;
    case DataType.INT32:
      if (tensor.int32Data?.length) return tensor.int32Data.map(Number);
      return raw ? Array.from(new Int32Array(raw.buffer)) : undefined;
    default:
      return undefined;
  }
}
