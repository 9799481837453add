import { GraphBuilder } from '@kiln/onnx';
import { silu } from '../nn/activation.ops.js';
import { conv2d } from '../nn/conv.layer.js';
import { RESIDUAL_BRANCH_GAIN } from '../nn/init.js';
import { linear2d, linear3d } from '../nn/linear.layer.js';
import { NetContext } from '../nn/net.context.js';
import { geluTanh, modulate, modulation, plainLayerNorm } from './mmdit.ops.js';
import type { Sd3TransformerConfig } from './sd3.config.js';

/** Width of the sinusoidal timestep features (diffusers' Timesteps(256, flip_sin_to_cos=True)). */
const TIME_FEATURES = 256;

/**
 * diffusers' SD3Transformer2DModel (MMDiT) as optimum exports it: `hidden_states` [batch, 16, h, w],
 * `encoder_hidden_states` [batch, tokens, joint_attention_dim], `pooled_projections` [batch, pooled],
 * `timestep` [batch] → `out_hidden_states` [batch, 16, h, w].
 *
 * Patchify (p×p conv) + a positional embedding cropped from the centre of a max-size grid; the
 * conditioning `temb` = MLP(sinusoidal(t)) + MLP(pooled); joint blocks where image and text tokens
 * attend together, each stream modulated by temb (AdaLayerNormZero; the last block's text stream
 * is context_pre_only); AdaLayerNormContinuous, projection, unpatchify.
 */
export function buildMmdit(config: Sd3TransformerConfig, seed: number): GraphBuilder {
  const g = new GraphBuilder('transformer');
  const ctx = new NetContext(g, 'float32', seed);
  const { channels, patchSize: p, jointAttentionDim, pooledProjectionDim } = config;
  const width = config.heads * config.headDim;
  const sample = g.addInput('hidden_states', 'float32', ['batch_size', channels, 'height', 'width']);
  const context = g.addInput('encoder_hidden_states', 'float32', ['batch_size', 'sequence_length', jointAttentionDim]);
  const pooled = g.addInput('pooled_projections', 'float32', ['batch_size', pooledProjectionDim]);
  const timestep = g.addInput('timestep', 'float32', ['step']);

  let x = g.scope('pos_embed', () => patchEmbed(ctx, sample, config));
  const temb = g.scope('time_text_embed', () => {
    const t = g.scope('timestep_embedder', () => mlp(ctx, sinusoidal(ctx, timestep), TIME_FEATURES, width));
    return g.op('Add', [t, g.scope('text_embedder', () => mlp(ctx, pooled, pooledProjectionDim, width))]);
  });
  let c = linear3d(ctx, 'context_embedder', context, jointAttentionDim, width);
  for (let i = 0; i < config.layers; i++) {
    const last = i === config.layers - 1;
    const out = g.scope(`transformer_blocks.${i}`, () => jointBlock(ctx, x, c, temb, config, last));
    x = out.image;
    if (out.text) c = out.text;
  }
  const [scale, shift] = modulation(ctx, 'norm_out.linear', temb, width, 2);
  const projected = linear3d(
    ctx,
    'proj_out',
    modulate(ctx, plainLayerNorm(ctx, x, width), shift, scale),
    width,
    p * p * channels,
  );
  g.addOutput(
    'out_hidden_states',
    'float32',
    ['batch_size', channels, 'height', 'width'],
    unpatchify(ctx, projected, sample, config),
  );
  return g;
}

/** `linear_2(silu(linear_1(x)))`. */
function mlp(ctx: NetContext, x: string, inFeatures: number, width: number): string {
  return linear2d(ctx, 'linear_2', silu(ctx, linear2d(ctx, 'linear_1', x, inFeatures, width)), width, width);
}

/** [batch] timesteps → [batch, 256]: `cat(cos(t·f), sin(t·f))`, f_i = exp(−ln(10000)·i/128). */
function sinusoidal(ctx: NetContext, timestep: string): string {
  const g = ctx.graph;
  const half = TIME_FEATURES / 2;
  const frequencies = ctx.constant(Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half)));
  const angles = g.op('Mul', [g.op('Unsqueeze', [timestep, ctx.int64([1])]), frequencies]);
  return g.op('Concat', [g.op('Cos', [angles]), g.op('Sin', [angles])], { axis: -1 });
}

/** Conv p×p stride p → tokens [batch, h·w, width] + the centre crop of the [max, max, width] positional grid. */
function patchEmbed(ctx: NetContext, sample: string, config: Sd3TransformerConfig): string {
  const g = ctx.graph;
  const width = config.heads * config.headDim;
  const max = config.posEmbedMaxSize;
  const patches = conv2d(ctx, 'proj', sample, config.channels, width, {
    kernel: config.patchSize,
    stride: config.patchSize,
    pads: [0, 0, 0, 0],
  });
  const tokens = g.op('Transpose', [g.op('Reshape', [patches, ctx.int64([0, 0, -1])])], { perm: [0, 2, 1] });
  const grid = ctx.parameter('pos_embed', [max, max, width], { std: 0.5 });
  const shape = g.op('Shape', [patches]);
  const side = (axis: number) => g.op('Gather', [shape, ctx.int64([axis])], { axis: 0 });
  const [h, w] = [side(2), side(3)];
  const start = (n: string) => g.op('Div', [g.op('Sub', [ctx.int64([max]), n]), ctx.int64([2])]);
  const [top, left] = [start(h), start(w)];
  const starts = g.op('Concat', [top, left], { axis: 0 });
  const ends = g.op('Concat', [g.op('Add', [top, h]), g.op('Add', [left, w])], { axis: 0 });
  const cropped = g.op('Slice', [grid, starts, ends, ctx.int64([0, 1])]);
  return g.op('Add', [tokens, g.op('Reshape', [cropped, ctx.int64([1, -1, width])])]);
}

/** diffusers' JointTransformerBlock: the new image tokens, and text tokens except after the last block. */
function jointBlock(
  ctx: NetContext,
  x: string,
  c: string,
  temb: string,
  config: Sd3TransformerConfig,
  contextPreOnly: boolean,
): { image: string; text?: string } {
  const g = ctx.graph;
  const width = config.heads * config.headDim;
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = modulation(ctx, 'norm1.linear', temb, width, 6);
  const normX = modulate(ctx, plainLayerNorm(ctx, x, width), shiftMsa, scaleMsa);
  const contextMod = modulation(ctx, 'norm1_context.linear', temb, width, contextPreOnly ? 2 : 6);
  const normC = contextPreOnly
    ? modulate(ctx, plainLayerNorm(ctx, c, width), contextMod[1], contextMod[0])
    : modulate(ctx, plainLayerNorm(ctx, c, width), contextMod[0], contextMod[1]);
  const [attnX, attnC] = g.scope('attn', () => jointAttention(ctx, normX, normC, config, contextPreOnly));

  let h = g.op('Add', [x, g.op('Mul', [gateMsa, attnX])]);
  const ffX = g.scope('ff', () =>
    feedForward(ctx, modulate(ctx, plainLayerNorm(ctx, h, width), shiftMlp, scaleMlp), width),
  );
  h = g.op('Add', [h, g.op('Mul', [gateMlp, ffX])]);
  if (contextPreOnly || attnC === undefined) return { image: h };

  const [, , cGateMsa, cShiftMlp, cScaleMlp, cGateMlp] = contextMod;
  let hc = g.op('Add', [c, g.op('Mul', [cGateMsa, attnC])]);
  const ffC = g.scope('ff_context', () =>
    feedForward(ctx, modulate(ctx, plainLayerNorm(ctx, hc, width), cShiftMlp, cScaleMlp), width),
  );
  hc = g.op('Add', [hc, g.op('Mul', [cGateMlp, ffC])]);
  return { image: h, text: hc };
}

/** Image and text tokens attend together: q/k/v of each stream, concatenated [image, text] on the token axis. */
function jointAttention(ctx: NetContext, x: string, c: string, config: Sd3TransformerConfig, contextPreOnly: boolean) {
  const g = ctx.graph;
  const { heads, headDim } = config;
  const width = heads * headDim;
  const project = (name: string, input: string) => linear3d(ctx, name, input, width, width);
  const joint = (a: string, b: string) => g.op('Concat', [project(a, x), project(b, c)], { axis: 1 });
  const split = ctx.int64([0, 0, heads, headDim]);
  const toHeads = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, split])], { perm });
  const q = toHeads(joint('to_q', 'add_q_proj'), [0, 2, 1, 3]);
  const k = toHeads(joint('to_k', 'add_k_proj'), [0, 2, 3, 1]);
  const v = toHeads(joint('to_v', 'add_v_proj'), [0, 2, 1, 3]);
  const scores = g.op('Mul', [g.op('MatMul', [q, k]), ctx.constant([1 / Math.sqrt(headDim)])]);
  const merged = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
  const tokens = g.op('Reshape', [g.op('Transpose', [merged], { perm: [0, 2, 1, 3] }), ctx.int64([0, 0, width])]);
  const imageTokens = g.op('Gather', [g.op('Shape', [x]), ctx.int64([1])], { axis: 0 });
  const image = g.op('Slice', [tokens, ctx.int64([0]), imageTokens, ctx.int64([1])]);
  const outX = linear3d(ctx, 'to_out.0', image, width, width, { gain: RESIDUAL_BRANCH_GAIN });
  if (contextPreOnly) return [outX, undefined] as const;
  const text = g.op('Slice', [tokens, imageTokens, ctx.int64([Number.MAX_SAFE_INTEGER]), ctx.int64([1])]);
  return [outX, linear3d(ctx, 'to_add_out', text, width, width, { gain: RESIDUAL_BRANCH_GAIN })] as const;
}

/** diffusers' FeedForward(activation_fn="gelu-approximate"): Linear(D, 4D) → GELU(tanh) → Linear(4D, D). */
function feedForward(ctx: NetContext, x: string, width: number): string {
  const hidden = ctx.graph.scope('net.0', () => geluTanh(ctx, linear3d(ctx, 'proj', x, width, width * 4)));
  return linear3d(ctx, 'net.2', hidden, width * 4, width, { gain: RESIDUAL_BRANCH_GAIN });
}

/** [batch, h·w, p·p·C] → [batch, C, h·p, w·p] (diffusers' `nhwpqc → nchpwq`). */
function unpatchify(ctx: NetContext, tokens: string, like: string, config: Sd3TransformerConfig): string {
  const g = ctx.graph;
  const p = config.patchSize;
  const shape = g.op('Shape', [like]);
  const dim = (axis: number) => g.op('Gather', [shape, ctx.int64([axis])], { axis: 0 });
  const patchesOf = (axis: number) => g.op('Div', [dim(axis), ctx.int64([p])]);
  const sixD = g.op('Concat', [dim(0), patchesOf(2), patchesOf(3), ctx.int64([p, p, config.channels])], { axis: 0 });
  const blocks = g.op('Transpose', [g.op('Reshape', [tokens, sixD])], { perm: [0, 5, 1, 3, 2, 4] });
  return g.op('Reshape', [blocks, shape]);
}
