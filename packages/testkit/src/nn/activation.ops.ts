import type { NetContext } from './net.context.js';

/** SiLU(x) = x * sigmoid(x) (torch.nn.SiLU, exported by PyTorch as Sigmoid + Mul). */
export function silu(ctx: NetContext, x: string): string {
  const g = ctx.graph;
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

/** quick_gelu(x) = x * sigmoid(1.702 x), CLIP's MLP activation (transformers' QuickGELUActivation). */
export function quickGelu(ctx: NetContext, x: string): string {
  const g = ctx.graph;
  return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, ctx.constant([1.702])])])]);
}

/** Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (torch.nn.functional.gelu; opset 17 has no Gelu op). */
export function gelu(ctx: NetContext, x: string): string {
  const g = ctx.graph;
  const erf = g.op('Erf', [g.op('Div', [x, ctx.constant([Math.SQRT2])])]);
  return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, ctx.constant([1])])]), ctx.constant([0.5])]);
}
