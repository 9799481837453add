import type { NetContext } from './net.context.js';

/** [N, C, H, W] → [N, H·W, C], the token layout attention works in. */
export function spatialToTokens(ctx: NetContext, x: string): string {
  const g = ctx.graph;
  return g.op('Transpose', [g.op('Reshape', [x, ctx.int64([0, 0, -1])])], { perm: [0, 2, 1] });
}

/** [N, H·W, C] → [N, C, H, W], taking the spatial shape from `like`. */
export function tokensToSpatial(ctx: NetContext, tokens: string, like: string): string {
  const g = ctx.graph;
  return g.op('Reshape', [g.op('Transpose', [tokens], { perm: [0, 2, 1] }), g.op('Shape', [like])]);
}
