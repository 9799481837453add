/**
 * Fuses multi-head attention, as PyTorch exports diffusers' attention, into one
 * `com.microsoft.MultiHeadAttention` node. onnxruntime's own optimizer (level `all`) fuses only
 * BERT-shaped attention, so in an SD UNet it leaves each attention as MatMul → Softmax → MatMul
 * with the head reshapes and transposes around it, and materialises the full
 * [batch·heads, tokens, tokens] score and probability tensors (1 GB each at 512×512, guided).
 * Its CPU MultiHeadAttention kernel computes the same softmax(q kᵀ · scale) v per head.
 *
 * Matched (float32 graphs), from each Softmax outward; `split(x)` is `Reshape(x, [·,·,H,·])` then
 * `Transpose[0,2,1,3]`, optionally followed by a Reshape that merges batch and heads:
 *
 *   scores = MatMul(split(q), keyT) · c          (Mul or Div by a scalar; diffusers' baddbmm adds
 *                                                  Mul(ConstantOfShape(0), 0), which is ignored)
 *   keyT   = Transpose[0,2,3,1](Reshape(k))  |  Transpose[0,1,3,2](split(k))  |  Transpose[0,2,1](split(k))
 *   out    = merge(MatMul(Softmax(scores) [→ Cast to float], split(v)))
 *   merge  = [Reshape to 4-D →] Transpose[0,2,1,3] → Reshape (heads back into features)
 *
 * becomes `MultiHeadAttention(q, k, v; num_heads H, scale c) → out`. The pattern's other nodes
 * are removed when nothing else reads them (dead-node elimination from the graph outputs), so a
 * value also used elsewhere stays computed. A mask, a bias or an unknown head count: left alone.
 */
import type { ModelProto, NodeProto } from '@kiln/onnx';
import { GraphIndex, intAttribute, intsAttribute } from './graph-index.js';
import { removeDeadNodes } from './dead-nodes.js';

export interface FusionReport {
  /** How many subgraphs were replaced. */
  fused: number;
  /** Softmax nodes left in the graph: attention that runs unfused (its scores materialised). */
  unfused: number;
}

const sameInts = (a: number[] | undefined, b: number[]) => !!a && a.length === b.length && a.every((v, i) => v === b[i]);

function transposeWith(index: GraphIndex, value: string | undefined, perm: number[]): NodeProto | undefined {
  const node = index.producedBy(value, 'Transpose');
  return node && sameInts(intsAttribute(node, 'perm'), perm) ? node : undefined;
}

/** The head count of a `Reshape` to [batch, tokens, H, head_dim]: a constant shape, or a Concat with a constant at 2. */
function headsOfShape(index: GraphIndex, shape: string | undefined): number | undefined {
  const values = index.constantValues(shape);
  if (values) return values.length === 4 && values[2] > 0 ? values[2] : undefined;
  const concat = index.producedBy(shape, 'Concat');
  if (!concat || concat.input?.length !== 4) return undefined;
  const heads = index.constantValues(concat.input[2]);
  return heads?.length === 1 && heads[0] > 0 ? heads[0] : undefined;
}

interface Split {
  input: string;
  heads: number;
  /** Batch and heads merged into one axis by a Reshape after the transpose (diffusers' head_to_batch_dim). */
  merged: boolean;
}

/** `split(x)`: Reshape(x, [·,·,H,·]) → Transpose[0,2,1,3] (→ Reshape to 3-D). */
function split(index: GraphIndex, value: string | undefined): Split | undefined {
  let transposed = value;
  let merged = false;
  const flatten = index.producedBy(value, 'Reshape');
  if (flatten) {
    transposed = flatten.input?.[0];
    merged = true;
  }
  const transpose = transposeWith(index, transposed, [0, 2, 1, 3]);
  const reshape = transpose && index.producedBy(transpose.input?.[0], 'Reshape');
  const heads = reshape && headsOfShape(index, reshape.input?.[1]);
  if (!reshape || !heads) return undefined;
  return { input: reshape.input?.[0] as string, heads, merged };
}

function keySplit(index: GraphIndex, value: string | undefined): Split | undefined {
  const direct = transposeWith(index, value, [0, 2, 3, 1]);
  if (direct) {
    const reshape = index.producedBy(direct.input?.[0], 'Reshape');
    const heads = reshape && headsOfShape(index, reshape.input?.[1]);
    return reshape && heads ? { input: reshape.input?.[0] as string, heads, merged: false } : undefined;
  }
  const last4 = transposeWith(index, value, [0, 1, 3, 2]);
  if (last4) {
    const s = split(index, last4.input?.[0]);
    return s && !s.merged ? s : undefined;
  }
  const last3 = transposeWith(index, value, [0, 2, 1]);
  if (last3) {
    const s = split(index, last3.input?.[0]);
    return s?.merged ? s : undefined;
  }
  return undefined;
}

/** diffusers' baddbmm with beta 0: `Mul(ConstantOfShape(0), 0)`. */
function isZeroTerm(index: GraphIndex, value: string | undefined): boolean {
  const mul = index.producedBy(value, 'Mul');
  if (!mul || mul.input?.length !== 2) return false;
  const [a, b] = mul.input;
  const isZero = (v: string) => index.constantValues(v)?.every((x) => x === 0) === true;
  const fromShape = (v: string) => !!index.producedBy(v, 'ConstantOfShape');
  return (fromShape(a) && isZero(b)) || (fromShape(b) && isZero(a));
}

/** The scaled scores: the MatMul and the scalar c, from the Softmax's input. */
function scaledScores(index: GraphIndex, value: string | undefined) {
  const add = index.producedBy(value, 'Add');
  if (add) {
    const [a, b] = add.input ?? [];
    if (isZeroTerm(index, b)) value = a;
    else if (isZeroTerm(index, a)) value = b;
    else return undefined;
  }
  const node = value === undefined ? undefined : index.producer.get(value);
  if (!node || node.domain || node.input?.length !== 2) return undefined;
  const [a, b] = node.input;
  if (node.opType === 'Mul') {
    const [scoresName, scalar] = index.producedBy(a, 'MatMul') ? [a, b] : [b, a];
    const c = index.constantValues(scalar);
    const matmul = index.producedBy(scoresName, 'MatMul');
    return matmul && c?.length === 1 && c[0] > 0 ? { matmul, scale: c[0] } : undefined;
  }
  if (node.opType === 'Div') {
    const c = index.constantValues(b);
    const matmul = index.producedBy(a, 'MatMul');
    return matmul && c?.length === 1 && c[0] > 0 ? { matmul, scale: 1 / c[0] } : undefined;
  }
  return undefined;
}

/** The node whose output is the merged attention output, from the probabilities × values MatMul. */
function mergeOf(index: GraphIndex, mixed: NodeProto, merged: boolean): NodeProto | undefined {
  const only = (value: string | undefined, opType: string) => {
    const readers = value === undefined ? [] : (index.consumers.get(value) ?? []);
    const node = readers.find((n) => n.opType === opType && !n.domain && n.input?.[0] === value);
    return node;
  };
  let value = mixed.output?.[0];
  if (merged) {
    const unflatten = only(value, 'Reshape');
    // diffusers' batch_to_head_dim: [batch·heads, tokens, d] → [batch, heads, tokens, d] (any 4-D shape).
    if (!unflatten || shapeRank(index, unflatten.input?.[1]) !== 4) return undefined;
    value = unflatten.output?.[0];
  }
  const transpose = only(value, 'Transpose');
  if (!transpose || !sameInts(intsAttribute(transpose, 'perm'), [0, 2, 1, 3])) return undefined;
  const reshape = only(transpose.output?.[0], 'Reshape');
  if (!reshape) return undefined;
  return shapeRank(index, reshape.input?.[1]) === 3 ? reshape : undefined;
}

/** The rank a Reshape's shape input asks for: a constant's length or a Concat's input count. */
function shapeRank(index: GraphIndex, shape: string | undefined): number | undefined {
  const values = index.constantValues(shape);
  if (values) return values.length;
  return index.producedBy(shape, 'Concat')?.input?.length;
}

function matchAt(index: GraphIndex, softmax: NodeProto): { fused: NodeProto; replaces: NodeProto } | undefined {
  const axis = intAttribute(softmax, 'axis');
  if (axis !== -1 && axis !== 3 && !(axis === 2)) return undefined;
  const scores = scaledScores(index, softmax.input?.[0]);
  if (!scores) return undefined;
  const q = split(index, scores.matmul.input?.[0]);
  const k = keySplit(index, scores.matmul.input?.[1]);
  if (!q || !k || q.heads !== k.heads || q.merged !== k.merged) return undefined;
  // Rank check: a 3-D Softmax (axis 2) only with batch and heads merged, a 4-D one (axis 3) only without.
  if ((axis === 2 && !q.merged) || (axis === 3 && q.merged)) return undefined;

  let probabilities = softmax.output?.[0];
  const readers = probabilities === undefined ? [] : (index.consumers.get(probabilities) ?? []);
  const cast = readers.find((n) => n.opType === 'Cast' && !n.domain);
  if (cast && intAttribute(cast, 'to') === 1) probabilities = cast.output?.[0];
  const mixed = (index.consumers.get(probabilities ?? '') ?? []).find(
    (n) => n.opType === 'MatMul' && !n.domain && n.input?.[0] === probabilities,
  );
  const v = mixed && split(index, mixed.input?.[1]);
  if (!mixed || !v || v.heads !== q.heads || v.merged !== q.merged) return undefined;
  const merge = mergeOf(index, mixed, q.merged);
  const out = merge?.output?.[0];
  if (!merge || !out) return undefined;
  return {
    replaces: merge,
    fused: {
      name: `${softmax.name ?? 'attention'}/kiln_mha`,
      opType: 'MultiHeadAttention',
      domain: 'com.microsoft',
      input: [q.input, k.input, v.input],
      output: [out],
      attribute: [
        { name: 'num_heads', type: 2, i: q.heads },
        { name: 'scale', type: 1, f: scores.scale },
      ],
    },
  };
}

/** Replaces every matched attention in `model` (in place). */
export function fuseAttention(model: ModelProto): FusionReport {
  const graph = model.graph;
  if (!graph?.node) return { fused: 0, unfused: 0 };
  const softmaxes = graph.node.filter((n) => n.opType === 'Softmax' && !n.domain).length;
  // Subgraphs (If, Loop) may read outer values: the dead-node pass would not see those reads.
  if (graph.node.some((n) => n.attribute?.some((a) => a.g || a.graphs?.length))) return { fused: 0, unfused: softmaxes };
  const index = new GraphIndex(graph);
  const replacement = new Map<NodeProto, NodeProto>();
  for (const node of graph.node) {
    if (node.opType !== 'Softmax' || node.domain) continue;
    const match = matchAt(index, node);
    if (match && !replacement.has(match.replaces)) replacement.set(match.replaces, match.fused);
  }
  if (replacement.size === 0) return { fused: 0, unfused: softmaxes };
  // The fused node takes the place of the pattern's last node: its inputs (q, k, v) come earlier.
  graph.node = graph.node.map((n) => replacement.get(n) ?? n);
  removeDeadNodes(graph);
  const opsets = (model.opsetImport ??= []);
  if (!opsets.some((o) => o.domain === 'com.microsoft')) opsets.push({ domain: 'com.microsoft', version: 1 });
  return { fused: replacement.size, unfused: softmaxes - replacement.size };
}
