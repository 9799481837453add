/**
 * An fp16 graph made float32 inside, for the CPU provider (docs/benchmarks.md, "fp16 models on
 * CPU"). onnxruntime's CPU kernels are float32 for most operators: on an fp16 graph it inserts
 * casts around them at load and at every run, keeps float32 copies of the weights beside the
 * fp16 ones, runs no NCHWc convolutions, and Kiln's attention fusion (float32 only) does not
 * apply. Here every float16 initializer and constant is converted once, float16 casts become
 * float32 casts, and the graph's float16 inputs and outputs keep their type through one Cast each,
 * so callers still see the model's own interface.
 */
import {
  AttributeType,
  DataType,
  float16ToFloat32,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from '@kiln/onnx';

/** Float16 bits → float32 tensor (same name and dims). */
function widenTensor(tensor: TensorProto): TensorProto {
  const raw = tensor.rawData;
  let bits: Uint16Array;
  if (raw && raw.byteLength > 0) {
    // Aligned copy: protobuf byte fields may start at any offset.
    bits = new Uint16Array(new Uint8Array(raw).buffer);
  } else {
    // float16 values without raw data are stored in int32Data, one per element.
    bits = Uint16Array.from(tensor.int32Data ?? []);
  }
  const widened = float16ToFloat32(bits);
  const { int32Data: _bits, rawData: _raw, ...meta } = tensor;
  return { ...meta, dataType: DataType.FLOAT, rawData: new Uint8Array(widened.buffer) };
}

const isFloat16 = (t: TensorProto | undefined) => t?.dataType === DataType.FLOAT16;

/** Whether the graph holds float16 weights (a widening candidate). */
export function hasFloat16Weights(model: ModelProto): boolean {
  return (model.graph?.initializer ?? []).some(isFloat16);
}

function widenNode(node: NodeProto): NodeProto {
  if (!node.attribute?.length) return node;
  const attribute = node.attribute.map((a) => {
    if (a.type === AttributeType.TENSOR && isFloat16(a.t)) return { ...a, t: widenTensor(a.t as TensorProto) };
    // Cast(to=float16) and the dtype attributes of generators (EyeLike, RandomNormal…).
    if (a.type === AttributeType.INT && (a.name === 'to' || a.name === 'dtype') && Number(a.i) === DataType.FLOAT16) {
      return { ...a, i: DataType.FLOAT };
    }
    return a;
  });
  return { ...node, attribute };
}

const elemTypeOf = (v: { type?: { tensorType?: { elemType?: number } } }) => v.type?.tensorType?.elemType;

/**
 * Widens `model` in place. Its float16 initializers must be loaded (readModel with external data):
 * they are replaced by float32 ones. Returns how many initializers were widened.
 */
export function widenFloat16(model: ModelProto): number {
  const graph = model.graph as GraphProto;
  if (!graph) return 0;
  let widened = 0;
  graph.initializer = (graph.initializer ?? []).map((t) => {
    if (!isFloat16(t)) return t;
    widened++;
    return widenTensor(t);
  });
  const nodes = (graph.node ?? []).map(widenNode);

  // float16 graph inputs: cast once to float32 under a new name that every reader uses.
  const rename = new Map<string, string>();
  const head: NodeProto[] = [];
  for (const input of graph.input ?? []) {
    if (elemTypeOf(input) !== DataType.FLOAT16 || !input.name) continue;
    const wide = `${input.name}__kiln_float32`;
    rename.set(input.name, wide);
    head.push({ name: `${wide}/cast`, opType: 'Cast', input: [input.name], output: [wide], attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }] });
  }
  for (const node of nodes) node.input = (node.input ?? []).map((n) => rename.get(n) ?? n);

  // float16 graph outputs: the producer writes a float32 value, one Cast gives the output back its type.
  const tail: NodeProto[] = [];
  for (const output of graph.output ?? []) {
    if (elemTypeOf(output) !== DataType.FLOAT16 || !output.name) continue;
    const wide = `${output.name}__kiln_float32`;
    for (const node of nodes) {
      node.output = (node.output ?? []).map((n) => (n === output.name ? wide : n));
      node.input = (node.input ?? []).map((n) => (n === output.name ? wide : n));
    }
    tail.push({ name: `${wide}/cast`, opType: 'Cast', input: [wide], output: [output.name], attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT16 }] });
  }
  graph.node = [...head, ...nodes, ...tail];
  // Intermediate type annotations said float16; onnxruntime infers them again.
  graph.valueInfo = [];
  return widened;
}
