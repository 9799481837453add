import { RESIDUAL_BRANCH_GAIN } from './init.js';
import { linear3d } from './linear.layer.js';
import type { NetContext } from './net.context.js';

/** Shape of an attention module. */
export interface AttentionShape {
  /** Width of the query input and of the output. */
  queryDim: number;
  /** Width of the key/value input (the text embedding for cross-attention). */
  contextDim: number;
  heads: number;
  /** q/k/v projections with bias (CLIP, VAE) or without (UNet transformer blocks). */
  qkvBias: boolean;
  /** diffusers names the output projection `to_out.0`; CLIP names it `out_proj`. */
  names: { q: string; k: string; v: string; out: string };
}

/** Names of diffusers' `Attention` projections. */
export const DIFFUSERS_ATTENTION_NAMES = { q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0' } as const;

/**
 * Multi-head scaled dot-product attention over [batch, tokens, features] inputs:
 * softmax(q kᵀ / sqrt(head_dim) + mask) v with the heads split from the feature axis.
 */
export function attention(
  ctx: NetContext,
  query: string,
  context: string,
  shape: AttentionShape,
  additiveMask?: string,
): string {
  const g = ctx.graph;
  const { queryDim, contextDim, heads, qkvBias, names } = shape;
  if (queryDim % heads !== 0) throw new Error(`attention width ${queryDim} is not divisible by ${heads} heads`);
  const headDim = queryDim / heads;
  const q = linear3d(ctx, names.q, query, queryDim, queryDim, { bias: qkvBias });
  const k = linear3d(ctx, names.k, context, contextDim, queryDim, { bias: qkvBias });
  const v = linear3d(ctx, names.v, context, contextDim, queryDim, { bias: qkvBias });
  const splitHeads = ctx.int64([0, 0, heads, headDim]);
  const qHeads = g.op('Transpose', [g.op('Reshape', [q, splitHeads])], { perm: [0, 2, 1, 3] });
  const kHeadsT = g.op('Transpose', [g.op('Reshape', [k, splitHeads])], { perm: [0, 2, 3, 1] });
  const vHeads = g.op('Transpose', [g.op('Reshape', [v, splitHeads])], { perm: [0, 2, 1, 3] });
  let scores = g.op('Mul', [g.op('MatMul', [qHeads, kHeadsT]), ctx.constant([1 / Math.sqrt(headDim)])]);
  if (additiveMask) scores = g.op('Add', [scores, additiveMask]);
  const probabilities = g.op('Softmax', [scores], { axis: -1 });
  const merged = g.op('Transpose', [g.op('MatMul', [probabilities, vHeads])], { perm: [0, 2, 1, 3] });
  const tokens = g.op('Reshape', [merged, ctx.int64([0, 0, queryDim])]);
  return linear3d(ctx, names.out, tokens, queryDim, queryDim, { gain: RESIDUAL_BRANCH_GAIN });
}
