import { floatAttribute } from '@kiln/onnx';
import { silu } from '../nn/activation.ops.js';
import { linear2d } from '../nn/linear.layer.js';
import type { NetContext } from '../nn/net.context.js';

/** GELU with the tanh approximation (transformers' gelu_new, diffusers' `gelu-approximate`). */
export function geluTanh(ctx: NetContext, x: string): string {
  const g = ctx.graph;
  const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
  const inner = g.op('Mul', [
    g.op('Add', [x, g.op('Mul', [cube, ctx.constant([0.044715])])]),
    ctx.constant([Math.sqrt(2 / Math.PI)]),
  ]);
  return g.op('Mul', [g.op('Mul', [x, ctx.constant([0.5])]), g.op('Add', [g.op('Tanh', [inner]), ctx.constant([1])])]);
}

/** LayerNorm over the last axis without affine parameters (elementwise_affine=False, eps 1e-6). */
export function plainLayerNorm(ctx: NetContext, x: string, features: number): string {
  const ones = ctx.graph.constant('float32', [features], new Array<number>(features).fill(1));
  return ctx.graph.op('LayerNormalization', [x, ones], { axis: -1, epsilon: floatAttribute(1e-6) });
}

/** `linear(silu(temb))` split into `count` [batch, 1, width] modulation vectors (diffusers' AdaLayerNorm* `emb`). */
export function modulation(ctx: NetContext, scope: string, temb: string, width: number, count: number): string[] {
  const g = ctx.graph;
  const emb = linear2d(ctx, scope, silu(ctx, temb), width, width * count);
  const chunks = g.addNode('Split', [emb], { axis: 1 }, { outputs: count });
  return chunks.map((chunk) => g.op('Unsqueeze', [chunk, ctx.int64([1])]));
}

/** `x · (1 + scale) + shift`. */
export function modulate(ctx: NetContext, x: string, shift: string, scale: string): string {
  const g = ctx.graph;
  return g.op('Add', [g.op('Mul', [x, g.op('Add', [scale, ctx.constant([1])])]), shift]);
}
