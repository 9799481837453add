import { GraphBuilder } from '@kiln/onnx';
import { NORM_WEIGHT_INIT, RESIDUAL_BRANCH_GAIN } from '../nn/init.js';
import { linear3d } from '../nn/linear.layer.js';
import { NetContext } from '../nn/net.context.js';
import { geluTanh } from './mmdit.ops.js';
import type { Sd3T5Config } from './sd3.config.js';

const EPS = 1e-6;

/**
 * transformers' T5EncoderModel as optimum exports it: `input_ids` int64 [batch, sequence] →
 * `last_hidden_state` [batch, sequence, d_model]. Pre-RMSNorm layers of unscaled self-attention
 * (no biases) plus a learned relative position bias shared by all layers, and a gated-gelu
 * feed-forward; a final RMSNorm.
 */
export function buildT5Encoder(config: Sd3T5Config, seed: number): GraphBuilder {
  const g = new GraphBuilder('text_encoder_3');
  const ctx = new NetContext(g, 'float32', seed);
  const inputIds = g.addInput('input_ids', 'int64', ['batch_size', 'sequence_length']);
  let h = g.scope('shared', () =>
    g.op('Gather', [ctx.parameter('weight', [config.vocabSize, config.dModel], { std: 0.5 }), inputIds]),
  );
  const out = g.scope('encoder', () => {
    const bias = g.scope('block.0.layer.0.SelfAttention.relative_attention_bias', () =>
      positionBias(ctx, inputIds, config),
    );
    for (let i = 0; i < config.layers; i++) {
      h = g.scope(`block.${i}`, () => {
        const attended = g.scope('layer.0', () =>
          g.op('Add', [
            h,
            g.scope('SelfAttention', () =>
              selfAttention(ctx, rmsNorm(ctx, 'layer_norm', h, config.dModel), bias, config),
            ),
          ]),
        );
        return g.scope('layer.1', () => {
          const normed = rmsNorm(ctx, 'layer_norm', attended, config.dModel);
          return g.op('Add', [attended, g.scope('DenseReluDense', () => gatedGelu(ctx, normed, config))]);
        });
      });
    }
    return rmsNorm(ctx, 'final_layer_norm', h, config.dModel);
  });
  g.addOutput('last_hidden_state', 'float32', ['batch_size', 'sequence_length', config.dModel], out);
  return g;
}

/** T5LayerNorm: `x · rsqrt(mean(x²) + eps) · weight` (no mean subtraction, no bias). */
function rmsNorm(ctx: NetContext, scope: string, x: string, features: number): string {
  const g = ctx.graph;
  return g.scope(scope, () => {
    const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inverse = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, ctx.constant([EPS])])])]);
    return g.op('Mul', [g.op('Mul', [x, inverse]), ctx.parameter('weight', [features], NORM_WEIGHT_INIT)]);
  });
}

/**
 * The bidirectional relative position bias [1, heads, L, L]: T5's `_relative_position_bucket`
 * (half the buckets per direction, exact below max_exact, log-spaced up to max_distance) looked up
 * in a learned [buckets, heads] table.
 */
function positionBias(ctx: NetContext, inputIds: string, config: Sd3T5Config): string {
  const g = ctx.graph;
  const table = ctx.parameter('weight', [config.relativeBuckets, config.heads], { std: 0.5 });
  const length = g.op('Gather', [g.op('Shape', [inputIds]), g.constant('int64', [], [1])], { axis: 0 });
  const positions = g.op('Range', [g.constant('int64', [], [0]), length, g.constant('int64', [], [1])]);
  const query = g.op('Unsqueeze', [positions, ctx.int64([1])]);
  const memory = g.op('Unsqueeze', [positions, ctx.int64([0])]);
  const relative = g.op('Sub', [memory, query]);
  const perSide = config.relativeBuckets / 2;
  const maxExact = perSide / 2;
  const int = (v: number) => g.constant('int64', [], [v]);
  const forward = g.op('Mul', [g.op('Cast', [g.op('Greater', [relative, int(0)])], { to: 7 }), int(perSide)]);
  const distance = g.op('Abs', [relative]);
  const logScale = (perSide - maxExact) / Math.log(config.relativeMaxDistance / maxExact);
  const atLeastOne = g.op('Cast', [g.op('Max', [distance, int(1)])], { to: 1 });
  const logBucket = g.op('Mul', [
    g.op('Log', [g.op('Div', [atLeastOne, ctx.constant([maxExact])])]),
    ctx.constant([logScale]),
  ]);
  const large = g.op('Min', [g.op('Add', [g.op('Cast', [logBucket], { to: 7 }), int(maxExact)]), int(perSide - 1)]);
  const bucket = g.op('Add', [forward, g.op('Where', [g.op('Less', [distance, int(maxExact)]), distance, large])]);
  const bias = g.op('Transpose', [g.op('Gather', [table, bucket])], { perm: [2, 0, 1] });
  return g.op('Unsqueeze', [bias, ctx.int64([0])]);
}

/** T5Attention without a mask: softmax(q kᵀ + bias) v (T5 does not scale by 1/sqrt(d)). */
function selfAttention(ctx: NetContext, x: string, bias: string, config: Sd3T5Config): string {
  const g = ctx.graph;
  const inner = config.heads * config.dKv;
  const split = ctx.int64([0, 0, config.heads, config.dKv]);
  const heads = (name: string, perm: number[]) =>
    g.op('Transpose', [g.op('Reshape', [linear3d(ctx, name, x, config.dModel, inner, { bias: false }), split])], {
      perm,
    });
  const scores = g.op('Add', [g.op('MatMul', [heads('q', [0, 2, 1, 3]), heads('k', [0, 2, 3, 1])]), bias]);
  const merged = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), heads('v', [0, 2, 1, 3])]);
  const tokens = g.op('Reshape', [g.op('Transpose', [merged], { perm: [0, 2, 1, 3] }), ctx.int64([0, 0, inner])]);
  return linear3d(ctx, 'o', tokens, inner, config.dModel, { bias: false, gain: RESIDUAL_BRANCH_GAIN });
}

/** T5DenseGatedActDense: `wo(gelu_new(wi_0 x) · wi_1 x)`. */
function gatedGelu(ctx: NetContext, x: string, config: Sd3T5Config): string {
  const g = ctx.graph;
  const gate = geluTanh(ctx, linear3d(ctx, 'wi_0', x, config.dModel, config.dFf, { bias: false }));
  const up = linear3d(ctx, 'wi_1', x, config.dModel, config.dFf, { bias: false });
  return linear3d(ctx, 'wo', g.op('Mul', [gate, up]), config.dFf, config.dModel, {
    bias: false,
    gain: RESIDUAL_BRANCH_GAIN,
  });
}
