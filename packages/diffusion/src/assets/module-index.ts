/**
 * Finds the weight initializer of each PyTorch module in an exported ONNX graph. The exporter
 * keeps a module's path only in its node names (`/down_blocks.1/attentions.0/…/to_q/MatMul`)
 * and stores a Linear's weight transposed under a generated name (`onnx::MatMul_3668`), so
 * weights are found through the nodes that consume them, never by initializer name.
 */
import type { ModelProto, NodeProto, TensorProto } from '@kiln/onnx';

/** How a weight is laid out relative to PyTorch's `[out, in, …]`. */
export type WeightLayout =
  /** MatMul (or Gemm without transB): `[in, out]`, a transposed Linear weight. */
  | 'in-out'
  /** Gemm with transB=1 or Conv: PyTorch's own `[out, in]` / `[out, in, kh, kw]`. */
  | 'out-in';

export interface ModuleWeight {
  /** The PyTorch module path, e.g. `down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q`. */
  module: string;
  initializer: TensorProto;
  layout: WeightLayout;
  /** Number of graph nodes that read this initializer: more than one means patching it would change them all. */
  consumers: number;
}

/** Module path → its weight, for every MatMul, Gemm and Conv whose weight is an initializer. */
export function indexModuleWeights(model: ModelProto): Map<string, ModuleWeight> {
  const graph = model.graph ?? {};
  const initializers = new Map((graph.initializer ?? []).map((tensor) => [tensor.name ?? '', tensor]));
  // The exporter deduplicates equal tensors and re-exposes the dropped names through Identity nodes.
  const aliases = new Map<string, string>();
  for (const node of graph.node ?? []) {
    if (node.opType === 'Identity' && node.input?.[0] && node.output?.[0]) aliases.set(node.output[0], node.input[0]);
  }
  const resolve = (name: string): TensorProto | undefined => {
    for (let hops = 0; hops < 16; hops++) {
      const tensor = initializers.get(name);
      if (tensor) return tensor;
      const source = aliases.get(name);
      if (source === undefined) return undefined;
      name = source;
    }
    return undefined;
  };

  const consumers = new Map<TensorProto, number>();
  for (const node of graph.node ?? []) {
    if (node.opType === 'Identity') continue;
    for (const input of new Set(node.input ?? [])) {
      const tensor = resolve(input);
      if (tensor) consumers.set(tensor, (consumers.get(tensor) ?? 0) + 1);
    }
  }

  const index = new Map<string, ModuleWeight>();
  for (const node of graph.node ?? []) {
    const layout = weightLayout(node);
    const module = modulePath(node.name);
    const initializer = node.input?.[1] === undefined ? undefined : resolve(node.input[1]);
    if (!layout || !module || !initializer || index.has(module)) continue;
    index.set(module, { module, initializer, layout, consumers: consumers.get(initializer) ?? 1 });
  }
  return index;
}

function weightLayout(node: NodeProto): WeightLayout | undefined {
  switch (node.opType) {
    case 'MatMul':
      return 'in-out';
    case 'Conv':
      return 'out-in';
    case 'Gemm': {
      const transB = node.attribute?.find((attribute) => attribute.name === 'transB')?.i ?? 0;
      return transB === 1 ? 'out-in' : 'in-out';
    }
    default:
      return undefined;
  }
}

/** `/down_blocks.1/attentions.0/to_q/MatMul` → `down_blocks.1.attentions.0.to_q` (the last part names the op). */
function modulePath(nodeName: string | undefined): string | undefined {
  if (!nodeName?.startsWith('/')) return undefined;
  const parts = nodeName.slice(1).split('/');
  return parts.length < 2 ? undefined : parts.slice(0, -1).join('.');
}
