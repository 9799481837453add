import { gelu } from './activation.ops.js';
import { attention, DIFFUSERS_ATTENTION_NAMES } from './attention.layer.js';
import { conv2d } from './conv.layer.js';
import { RESIDUAL_BRANCH_GAIN } from './init.js';
import { spatialToTokens, tokensToSpatial } from './layout.ops.js';
import { linear3d } from './linear.layer.js';
import type { NetContext } from './net.context.js';
import { groupNorm, layerNorm } from './norm.layer.js';

/** Shape of an SD1.5 Transformer2DModel. */
export interface TransformerShape {
  channels: number;
  heads: number;
  crossAttentionDim: number;
}

/**
 * diffusers' Transformer2DModel as SD1.5 configures it (use_linear_projection=False, one block):
 * GroupNorm(eps 1e-6) → proj_in (1×1 conv) → tokens → BasicTransformerBlock → proj_out → + input.
 */
export function transformer2d(
  ctx: NetContext,
  scope: string,
  x: string,
  encoderHiddenStates: string,
  shape: TransformerShape,
): string {
  const g = ctx.graph;
  const { channels } = shape;
  return g.scope(scope, () => {
    const normalized = groupNorm(ctx, 'norm', x, channels, 1e-6);
    const tokens = spatialToTokens(ctx, conv2d(ctx, 'proj_in', normalized, channels, channels, { kernel: 1 }));
    const transformed = g.scope('transformer_blocks.0', () =>
      basicTransformerBlock(ctx, tokens, encoderHiddenStates, shape),
    );
    const spatial = tokensToSpatial(ctx, transformed, x);
    return g.op('Add', [
      conv2d(ctx, 'proj_out', spatial, channels, channels, { kernel: 1, gain: RESIDUAL_BRANCH_GAIN }),
      x,
    ]);
  });
}

/**
 * diffusers' BasicTransformerBlock (attention.py): self-attention, cross-attention to the text
 * embedding, and a GEGLU feed-forward, each pre-LayerNorm and residual.
 */
function basicTransformerBlock(ctx: NetContext, tokens: string, context: string, shape: TransformerShape): string {
  const g = ctx.graph;
  const { channels, heads, crossAttentionDim } = shape;
  const selfShape = {
    queryDim: channels,
    contextDim: channels,
    heads,
    qkvBias: false,
    names: DIFFUSERS_ATTENTION_NAMES,
  };
  let h = tokens;
  const norm1 = layerNorm(ctx, 'norm1', h, channels, 1e-5);
  h = g.op('Add', [g.scope('attn1', () => attention(ctx, norm1, norm1, selfShape)), h]);
  const norm2 = layerNorm(ctx, 'norm2', h, channels, 1e-5);
  const crossShape = { ...selfShape, contextDim: crossAttentionDim };
  h = g.op('Add', [g.scope('attn2', () => attention(ctx, norm2, context, crossShape)), h]);
  const norm3 = layerNorm(ctx, 'norm3', h, channels, 1e-5);
  return g.op('Add', [g.scope('ff', () => gegluFeedForward(ctx, norm3, channels)), h]);
}

/** diffusers' FeedForward with GEGLU: proj to 2×4C, split, hidden · gelu(gate), Linear back to C. */
function gegluFeedForward(ctx: NetContext, x: string, channels: number): string {
  const g = ctx.graph;
  const inner = channels * 4;
  const projected = g.scope('net.0', () => linear3d(ctx, 'proj', x, channels, inner * 2));
  const [hidden, gate] = g.addNode('Split', [projected], { axis: -1 }, { outputs: 2 });
  const gated = g.op('Mul', [hidden, gelu(ctx, gate)]);
  return linear3d(ctx, 'net.2', gated, inner, channels, { gain: RESIDUAL_BRANCH_GAIN });
}
