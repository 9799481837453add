import { conv2d } from './conv.layer.js';
import type { NetContext } from './net.context.js';

/** UNet Downsample2D: 3×3 conv, stride 2, padding 1. */
export function unetDownsample(ctx: NetContext, x: string, channels: number): string {
  return ctx.graph.scope('downsamplers.0', () => conv2d(ctx, 'conv', x, channels, channels, { stride: 2 }));
}

/** VAE encoder Downsample2D: pad (0, 1, 0, 1) then 3×3 conv with stride 2 and no padding. */
export function vaeDownsample(ctx: NetContext, x: string, channels: number): string {
  return ctx.graph.scope('downsamplers.0', () =>
    conv2d(ctx, 'conv', x, channels, channels, { stride: 2, pads: [0, 0, 1, 1] }),
  );
}

/**
 * Upsample2D: nearest-neighbour resize then a 3×3 conv. With `sizeLike`, the output takes that
 * tensor's spatial size — diffusers' eager `upsample_size` path, which lets a UNet accept latents
 * whose sides are not multiples of 2^(blocks-1); otherwise the size doubles.
 */
export function upsample(ctx: NetContext, x: string, channels: number, sizeLike?: string): string {
  const g = ctx.graph;
  return g.scope('upsamplers.0', () => {
    const resizeAttributes = { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' };
    let resized: string;
    if (sizeLike === undefined) {
      const scales = g.constant('float32', [4], [1, 1, 2, 2]);
      resized = g.op('Resize', [x, '', scales], resizeAttributes);
    } else {
      const batchAndChannels = g.op('Slice', [g.op('Shape', [x]), ctx.int64([0]), ctx.int64([2])]);
      const spatial = g.op('Slice', [g.op('Shape', [sizeLike]), ctx.int64([2]), ctx.int64([4])]);
      resized = g.op('Resize', [x, '', '', g.op('Concat', [batchAndChannels, spatial], { axis: 0 })], resizeAttributes);
    }
    return conv2d(ctx, 'conv', resized, channels, channels);
  });
}
