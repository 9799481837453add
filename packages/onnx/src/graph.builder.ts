import { dataTypeCode, elementByteSize } from './data-type.js';
import type { ElementType } from './data-type.js';
import { float32ToFloat16 } from './float16.js';
import { writeModelWithInitializers } from './model.writer.js';
import type { WriteModelOptions, WrittenModel } from './model.writer.js';
import { AttributeType } from './onnx.types.js';
import type { AttributeProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './onnx.types.js';

/** A dimension of a graph input/output: a fixed size or a symbolic name such as `batch`. */
export type Dim = number | string;

/** Tensor values. Float data given for a `float16` tensor is rounded to float16; a `Uint16Array` is taken as float16 bits. */
export type TensorValues =
  Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | number[];

/** Values, or a function producing them when the model is written (keeps huge models out of memory). */
export type TensorSource = TensorValues | (() => TensorValues);

/** A float attribute value that happens to be an integer (plain integers become INT attributes). */
export class FloatAttribute {
  constructor(readonly value: number | number[]) {}
}

/** Marks a number (or list) as a FLOAT(S) attribute even when it is integral. */
export function floatAttribute(value: number | number[]): FloatAttribute {
  return new FloatAttribute(value);
}

/**
 * An attribute value: integers become INT(S), other numbers FLOAT(S), strings STRING(S),
 * {@link FloatAttribute} forces FLOAT(S), and a `TensorProto` (an object with `dataType`) is TENSOR.
 */
export type AttributeValue = number | number[] | string | string[] | FloatAttribute | TensorProto;

/** Options of {@link GraphBuilder.toModel} and {@link GraphBuilder.write}. */
export interface ModelOptions {
  /** Default-domain opset version (default 17). */
  opset?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

/** IR version that goes with opset 17 (onnx/onnx docs/Versioning.md). */
const IR_VERSION_FOR_OPSET_17 = 8;

interface PendingInitializer {
  name: string;
  type: ElementType;
  dims: number[];
  source: TensorSource;
}

/**
 * Builds an ONNX graph node by node. Nodes are named the way PyTorch's exporter names them
 * (`/scope/path/OpType_n`, outputs `<node>_output_<i>`), which keeps graphs readable and lets
 * code locate a module's nodes by scope.
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: PendingInitializer[] = [];
  private readonly usedNames = new Set<string>();
  private readonly scopes: string[] = [];

  constructor(readonly name = 'main_graph') {}

  /** Declares a graph input. */
  addInput(name: string, type: ElementType, shape: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** Declares a graph output produced by `source` (an `Identity` names it when the names differ). */
  addOutput(name: string, type: ElementType, shape: Dim[], source = name): string {
    if (source !== name) {
      this.claim(name);
      this.nodes.push({ name: this.nodeName('Identity'), opType: 'Identity', input: [source], output: [name] });
    }
    this.outputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** Adds a named initializer (a weight). `source` may be a function, called once when the model is built or written. */
  addInitializer(name: string, type: ElementType, dims: number[], source: TensorSource): string {
    this.claim(name);
    this.initializers.push({ name, type, dims: [...dims], source });
    return name;
  }

  /** Adds a `Constant` node holding a small tensor and returns its output name. */
  constant(type: ElementType, dims: number[], values: TensorValues): string {
    const tensor = makeTensor('', type, dims, values);
    delete tensor.name;
    return this.op('Constant', [], { value: tensor });
  }

  /** Adds a node and returns its output names (`outputs` may be a count or explicit names). */
  addNode(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    options: { outputs?: number | string[]; domain?: string } = {},
  ): string[] {
    const name = this.nodeName(opType);
    const outputs = Array.isArray(options.outputs)
      ? options.outputs
      : Array.from({ length: options.outputs ?? 1 }, (_, index) => `${name}_output_${index}`);
    for (const output of outputs) this.claim(output);
    const node: NodeProto = { name, opType, input: inputs, output: outputs };
    const attribute = Object.entries(attributes).map(([key, value]) => makeAttribute(key, value));
    if (attribute.length > 0) node.attribute = attribute;
    if (options.domain) node.domain = options.domain;
    this.nodes.push(node);
    return outputs;
  }

  /** Adds a single-output node and returns its output name. */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    return this.addNode(opType, inputs, attributes)[0];
  }

  /** Runs `body` with `scope` appended to the node-name scope (like a PyTorch submodule name). */
  scope<T>(scope: string, body: () => T): T {
    this.scopes.push(scope);
    try {
      return body();
    } finally {
      this.scopes.pop();
    }
  }

  /** The current scope path, e.g. `down_blocks.0.resnets.1`. */
  get scopePath(): string {
    return this.scopes.join('.');
  }

  /** A name not yet used in the graph, derived from `base`. */
  uniqueName(base: string): string {
    let candidate = base;
    for (let index = 1; this.usedNames.has(candidate); index++) candidate = `${base}_${index}`;
    this.usedNames.add(candidate);
    return candidate;
  }

  /** Names of the initializers added so far, in order. */
  initializerNames(): string[] {
    return this.initializers.map((initializer) => initializer.name);
  }

  /** Total bytes of all initializers (known from their dims and types without producing values). */
  initializerBytes(): number {
    return this.initializers.reduce(
      (total, { type, dims }) => total + dims.reduce((product, dim) => product * dim, 1) * elementByteSize(type),
      0,
    );
  }

  /** Builds the model in memory, producing every initializer's values. */
  toModel(options: ModelOptions = {}): ModelProto {
    return this.modelWithInitializers([...this.materializedInitializers()], options);
  }

  /**
   * Writes the model to `path`. Initializers are produced one at a time; with `externalData`,
   * large ones go straight to the external file, so models over protobuf's 2 GiB limit can be written.
   */
  async write(path: string, options: ModelOptions & WriteModelOptions = {}): Promise<WrittenModel> {
    return writeModelWithInitializers(
      path,
      this.modelWithInitializers([], options),
      this.materializedInitializers(),
      options,
    );
  }

  private *materializedInitializers(): Generator<TensorProto> {
    for (const { name, type, dims, source } of this.initializers) {
      yield makeTensor(name, type, dims, typeof source === 'function' ? source() : source);
    }
  }

  private modelWithInitializers(initializer: TensorProto[], options: ModelOptions): ModelProto {
    const opset = options.opset ?? 17;
    return {
      irVersion: IR_VERSION_FOR_OPSET_17,
      opsetImport: [{ domain: '', version: opset }],
      producerName: options.producerName ?? '@kiln/onnx',
      producerVersion: options.producerVersion ?? '0.1.0',
      ...(options.docString ? { docString: options.docString } : {}),
      graph: {
        name: this.name,
        node: [...this.nodes],
        initializer,
        input: [...this.inputs],
        output: [...this.outputs],
      },
    };
  }

  private nodeName(opType: string): string {
    const prefix = this.scopes.length > 0 ? `/${this.scopes.join('/')}/` : '/';
    return this.uniqueName(`${prefix}${opType}`);
  }

  private claim(name: string): void {
    if (this.usedNames.has(name)) throw new Error(`name ${name} is already used in graph ${this.name}`);
    this.usedNames.add(name);
  }
}

function valueInfo(name: string, type: ElementType, shape: Dim[]): ValueInfoProto {
  const dim = shape.map((size) => (typeof size === 'number' ? { dimValue: size } : { dimParam: size }));
  return { name, type: { tensorType: { elemType: dataTypeCode(type), shape: { dim } } } };
}

/** Builds a tensor with little-endian `rawData`, converting values to the element type. */
export function makeTensor(name: string, type: ElementType, dims: number[], values: TensorValues): TensorProto {
  const count = dims.reduce((product, dim) => product * dim, 1);
  if (values.length !== count) throw new Error(`tensor ${name}: ${values.length} values for dims [${dims.join(', ')}]`);
  const typed = toTypedArray(type, values);
  const rawData = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (rawData.byteLength !== count * elementByteSize(type))
    throw new Error(`tensor ${name}: wrong byte size for ${type}`);
  return { name, dims: [...dims], dataType: dataTypeCode(type), rawData };
}

function toTypedArray(type: ElementType, values: TensorValues): Exclude<TensorValues, number[]> {
  switch (type) {
    case 'float32':
      return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
    case 'float16':
      return values instanceof Uint16Array ? values : float32ToFloat16(values as ArrayLike<number>);
    case 'float64':
      return values instanceof Float64Array ? values : Float64Array.from(values as ArrayLike<number>);
    case 'int32':
      return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
    case 'int64':
      return values instanceof BigInt64Array
        ? values
        : BigInt64Array.from(Array.from(values as ArrayLike<number>, (v) => BigInt(v)));
    case 'int8':
      return values instanceof Int8Array ? values : Int8Array.from(values as ArrayLike<number>);
    case 'uint8':
    case 'bool':
      return values instanceof Uint8Array ? values : Uint8Array.from(values as ArrayLike<number>);
  }
}

function makeAttribute(name: string, value: AttributeValue): AttributeProto {
  if (value instanceof FloatAttribute) {
    return Array.isArray(value.value)
      ? { name, type: AttributeType.FLOATS, floats: value.value }
      : { name, type: AttributeType.FLOAT, f: value.value };
  }
  if (typeof value === 'number') {
    return Number.isInteger(value)
      ? { name, type: AttributeType.INT, i: value }
      : { name, type: AttributeType.FLOAT, f: value };
  }
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((item): item is string => typeof item === 'string')) {
      return { name, type: AttributeType.STRINGS, strings: value.map((item) => new TextEncoder().encode(item)) };
    }
    const numbers = value as number[];
    return numbers.every(Number.isInteger)
      ? { name, type: AttributeType.INTS, ints: numbers }
      : { name, type: AttributeType.FLOATS, floats: numbers };
  }
  return { name, type: AttributeType.TENSOR, t: value };
}
