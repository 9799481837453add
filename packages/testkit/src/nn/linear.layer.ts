import { BIAS_INIT, fanInInit } from './init.js';
import type { NetContext } from './net.context.js';

/** Options for a Linear layer. */
export interface LinearOptions {
  bias?: boolean;
  /** Multiplies the weight's fan-in std (see RESIDUAL_BRANCH_GAIN). */
  gain?: number;
}

/**
 * torch.nn.Linear on a 2-D input, the way PyTorch exports it: Gemm with transB=1 and the weight
 * in PyTorch's [out, in] layout under its module name.
 */
export function linear2d(
  ctx: NetContext,
  scope: string,
  x: string,
  inFeatures: number,
  outFeatures: number,
  options: LinearOptions = {},
): string {
  const g = ctx.graph;
  return g.scope(scope, () => {
    const weight = ctx.parameter('weight', [outFeatures, inFeatures], fanInInit(inFeatures, options.gain));
    const inputs = [x, weight];
    if (options.bias !== false) inputs.push(ctx.parameter('bias', [outFeatures], BIAS_INIT));
    return g.op('Gemm', inputs, { transB: 1 });
  });
}

/**
 * torch.nn.Linear on a [batch, tokens, features] input, the way PyTorch exports it: MatMul with
 * a transposed [in, out] weight, then Add of the bias.
 */
export function linear3d(
  ctx: NetContext,
  scope: string,
  x: string,
  inFeatures: number,
  outFeatures: number,
  options: LinearOptions = {},
): string {
  const g = ctx.graph;
  return g.scope(scope, () => {
    const product = g.op('MatMul', [x, ctx.matmulWeight(inFeatures, outFeatures, fanInInit(inFeatures, options.gain))]);
    if (options.bias === false) return product;
    return g.op('Add', [ctx.parameter('bias', [outFeatures], BIAS_INIT), product]);
  });
}
