import { BIAS_INIT, fanInInit } from './init.js';
import type { NetContext } from './net.context.js';

/** Options for a 2-D convolution. */
export interface ConvOptions {
  kernel?: number;
  stride?: number;
  /** [top, left, bottom, right]; default "same" padding for odd kernels. */
  pads?: [number, number, number, number];
  gain?: number;
}

/** torch.nn.Conv2d with bias; the weight is [out, in, k, k] under the module name. */
export function conv2d(
  ctx: NetContext,
  scope: string,
  x: string,
  inChannels: number,
  outChannels: number,
  options: ConvOptions = {},
): string {
  const kernel = options.kernel ?? 3;
  const half = (kernel - 1) / 2;
  const g = ctx.graph;
  return g.scope(scope, () => {
    const weight = ctx.parameter(
      'weight',
      [outChannels, inChannels, kernel, kernel],
      fanInInit(inChannels * kernel * kernel, options.gain),
    );
    const bias = ctx.parameter('bias', [outChannels], BIAS_INIT);
    return g.op('Conv', [x, weight, bias], {
      kernel_shape: [kernel, kernel],
      strides: [options.stride ?? 1, options.stride ?? 1],
      pads: options.pads ?? [half, half, half, half],
      dilations: [1, 1],
      group: 1,
    });
  });
}
