import { attention, DIFFUSERS_ATTENTION_NAMES } from './attention.layer.js';
import { spatialToTokens, tokensToSpatial } from './layout.ops.js';
import type { NetContext } from './net.context.js';
import { groupNorm } from './norm.layer.js';

/**
 * The VAE mid-block attention (diffusers `Attention` with a group_norm, one head as wide as the
 * block, biased q/k/v), applied over all pixels and added back to its input.
 */
export function vaeAttention(ctx: NetContext, scope: string, x: string, channels: number, eps: number): string {
  const g = ctx.graph;
  return g.scope(scope, () => {
    const tokens = spatialToTokens(ctx, groupNorm(ctx, 'group_norm', x, channels, eps));
    const shape = {
      queryDim: channels,
      contextDim: channels,
      heads: 1,
      qkvBias: true,
      names: DIFFUSERS_ATTENTION_NAMES,
    };
    return g.op('Add', [tokensToSpatial(ctx, attention(ctx, tokens, tokens, shape), x), x]);
  });
}
