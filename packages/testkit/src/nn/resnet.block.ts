import { silu } from './activation.ops.js';
import { conv2d } from './conv.layer.js';
import { RESIDUAL_BRANCH_GAIN } from './init.js';
import { linear2d } from './linear.layer.js';
import type { NetContext } from './net.context.js';
import { groupNorm } from './norm.layer.js';

/** Shape of a ResnetBlock2D. */
export interface ResnetShape {
  inChannels: number;
  outChannels: number;
  eps: number;
  /** Time-embedding width; omitted for the VAE's blocks, which have no time input. */
  timeEmbeddingDim?: number;
}

/**
 * diffusers' ResnetBlock2D (resnet.py): norm1 → SiLU → conv1 → + time_emb_proj(SiLU(temb)) →
 * norm2 → SiLU → conv2, added to the input (through a 1×1 conv_shortcut when widths differ).
 */
export function resnetBlock(
  ctx: NetContext,
  scope: string,
  x: string,
  shape: ResnetShape,
  timeEmbedding?: string,
): string {
  const g = ctx.graph;
  const { inChannels, outChannels, eps, timeEmbeddingDim } = shape;
  return g.scope(scope, () => {
    let h = silu(ctx, groupNorm(ctx, 'norm1', x, inChannels, eps));
    h = conv2d(ctx, 'conv1', h, inChannels, outChannels);
    if (timeEmbedding !== undefined && timeEmbeddingDim !== undefined) {
      const projected = linear2d(ctx, 'time_emb_proj', silu(ctx, timeEmbedding), timeEmbeddingDim, outChannels);
      h = g.op('Add', [h, g.op('Unsqueeze', [projected, ctx.int64([2, 3])])]);
    }
    h = silu(ctx, groupNorm(ctx, 'norm2', h, outChannels, eps));
    h = conv2d(ctx, 'conv2', h, outChannels, outChannels, { gain: RESIDUAL_BRANCH_GAIN });
    const shortcut =
      inChannels === outChannels ? x : conv2d(ctx, 'conv_shortcut', x, inChannels, outChannels, { kernel: 1 });
    return g.op('Add', [shortcut, h]);
  });
}
