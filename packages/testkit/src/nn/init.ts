import type { ParameterInit } from './net.context.js';

/** Fan-in scaled init, std = gain / sqrt(fanIn): keeps activations O(1) layer after layer. */
export function fanInInit(fanIn: number, gain = 1): ParameterInit {
  return { std: gain / Math.sqrt(fanIn) };
}

/** Small random biases. */
export const BIAS_INIT: ParameterInit = { std: 0.02 };

/** Norm scales near one (not exactly one, so applying a norm's affine part is observable). */
export const NORM_WEIGHT_INIT: ParameterInit = { std: 0.1, mean: 1 };

/** Norm shifts near zero. */
export const NORM_BIAS_INIT: ParameterInit = { std: 0.1 };

/**
 * Gain for the last layer of a residual branch: the residual stream grows with the number of
 * branches added to it, and a smaller branch keeps deep (full-size) nets from drifting large.
 */
export const RESIDUAL_BRANCH_GAIN = 0.5;
