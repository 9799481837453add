import { floatAttribute } from '@kiln/onnx';
import { NORM_BIAS_INIT, NORM_WEIGHT_INIT } from './init.js';
import type { NetContext } from './net.context.js';

/** Number of GroupNorm groups: SD uses 32; narrow test nets use the largest divisor of the width up to 32. */
export function groupCount(channels: number, preferred = 32): number {
  let groups = Math.min(preferred, channels);
  while (channels % groups !== 0) groups--;
  return groups;
}

/**
 * torch.nn.GroupNorm over [N, C, H, W]. Opset 17 has no GroupNormalization, so, as PyTorch's
 * exporter does: reshape to [N, G, -1], InstanceNormalization with unit scale, reshape back,
 * then the per-channel affine (weight/bias [C] under the module name).
 */
export function groupNorm(
  ctx: NetContext,
  scope: string,
  x: string,
  channels: number,
  eps: number,
  groups = groupCount(channels),
): string {
  const g = ctx.graph;
  return g.scope(scope, () => {
    const weight = ctx.parameter('weight', [channels], NORM_WEIGHT_INIT);
    const bias = ctx.parameter('bias', [channels], NORM_BIAS_INIT);
    const grouped = g.op('Reshape', [x, ctx.int64([0, groups, -1])]);
    const ones = ctx.graph.constant(ctx.precision, [groups], new Array<number>(groups).fill(1));
    const zeros = ctx.graph.constant(ctx.precision, [groups], new Array<number>(groups).fill(0));
    const normalized = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: floatAttribute(eps) });
    const restored = g.op('Reshape', [normalized, g.op('Shape', [x])]);
    const perChannel = (name: string) => g.op('Unsqueeze', [name, ctx.int64([1, 2])]);
    return g.op('Add', [g.op('Mul', [restored, perChannel(weight)]), perChannel(bias)]);
  });
}

/** torch.nn.LayerNorm over the last axis (ONNX LayerNormalization, opset 17). */
export function layerNorm(ctx: NetContext, scope: string, x: string, features: number, eps: number): string {
  const g = ctx.graph;
  return g.scope(scope, () => {
    const weight = ctx.parameter('weight', [features], NORM_WEIGHT_INIT);
    const bias = ctx.parameter('bias', [features], NORM_BIAS_INIT);
    return g.op('LayerNormalization', [x, weight, bias], { axis: -1, epsilon: floatAttribute(eps) });
  });
}
