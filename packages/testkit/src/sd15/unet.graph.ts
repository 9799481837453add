import { GraphBuilder } from '@kiln/onnx';
import { silu } from '../nn/activation.ops.js';
import { conv2d } from '../nn/conv.layer.js';
import { linear2d } from '../nn/linear.layer.js';
import { NetContext } from '../nn/net.context.js';
import type { Precision } from '../nn/net.context.js';
import { groupNorm } from '../nn/norm.layer.js';
import { resnetBlock } from '../nn/resnet.block.js';
import { unetDownsample, upsample } from '../nn/sampling.ops.js';
import { transformer2d } from '../nn/transformer.block.js';
import type { UnetConfig } from './sd15.config.js';

export interface Skip {
  value: string;
  channels: number;
}

/** What the down path and mid block of a UNet (or a ControlNet, which copies them) hand on. */
export interface UnetEncoderOutput {
  /** Down-path tensors the up path concatenates: conv_in's output, each resnet's, each downsampler's. */
  skips: Skip[];
  /** The mid block's output. */
  mid: string;
  channels: number;
}

/** The UNet's two layer kinds, bound to its time embedding and text context (the down, mid and up paths share them). */
function unetLayers(ctx: NetContext, config: UnetConfig, temb: string, context: string) {
  const { eps } = config;
  const timeEmbeddingDim = config.blockChannels[0] * 4;
  return {
    resnet: (scope: string, x: string, inChannels: number, outChannels: number) =>
      resnetBlock(ctx, scope, x, { inChannels, outChannels, eps, timeEmbeddingDim }, temb),
    transformer: (scope: string, x: string, channels: number) =>
      transformer2d(ctx, scope, x, context, {
        channels,
        heads: config.heads,
        crossAttentionDim: config.crossAttentionDim,
      }),
  };
}

/**
 * The down blocks and the mid block of diffusers' UNet2DConditionModel from `h` (conv_in's output,
 * plus a ControlNet's conditioning embedding in a ControlNet), in the caller's scope.
 */
export function unetEncoder(
  ctx: NetContext,
  config: UnetConfig,
  input: string,
  temb: string,
  context: string,
): UnetEncoderOutput {
  const g = ctx.graph;
  const { blockChannels, layersPerBlock, attentionPerBlock } = config;
  const { resnet, transformer } = unetLayers(ctx, config, temb, context);
  let h = input;
  let channels = blockChannels[0];
  const skips: Skip[] = [{ value: h, channels }];

  blockChannels.forEach((outChannels, i) => {
    g.scope(`down_blocks.${i}`, () => {
      for (let j = 0; j < layersPerBlock; j++) {
        h = resnet(`resnets.${j}`, h, channels, outChannels);
        channels = outChannels;
        if (attentionPerBlock[i]) h = transformer(`attentions.${j}`, h, channels);
        skips.push({ value: h, channels });
      }
      if (i < blockChannels.length - 1) {
        h = unetDownsample(ctx, h, channels);
        skips.push({ value: h, channels });
      }
    });
  });

  g.scope('mid_block', () => {
    h = resnet('resnets.0', h, channels, channels);
    h = transformer('attentions.0', h, channels);
    h = resnet('resnets.1', h, channels, channels);
  });
  return { skips, mid: h, channels };
}

/**
 * diffusers' UNet2DConditionModel with SD1.5's block layout, named as diffusers exports it:
 * `sample` [batch, C, H, W], `timestep` [batch], `encoder_hidden_states` [batch, sequence, D]
 * → `out_sample` [batch, 4, H, W]. Batch, spatial size and sequence length are all dynamic.
 *
 * With `config.residualInputs` it is the "UNet with ControlNet inputs" of the shared reference
 * model: `down_block_additional_residuals.{i}` (one per skip tensor) and
 * `mid_block_additional_residual`, added as diffusers adds them (to the skip tensors the up path
 * reads, and to the mid block's output).
 */
export function buildUnet(config: UnetConfig, precision: Precision, seed: number): GraphBuilder {
  const g = new GraphBuilder('unet');
  const ctx = new NetContext(g, precision, seed);
  const { blockChannels, layersPerBlock, eps, attentionPerBlock } = config;
  const sample = g.addInput('sample', precision, ['batch', 'channels', 'height', 'width']);
  // diffusers' fp16 export traces the timestep in the model dtype too (convert_stable_diffusion_checkpoint_to_onnx.py).
  const timestep = g.addInput('timestep', precision, ['batch']);
  const context = g.addInput('encoder_hidden_states', precision, ['batch', 'sequence', config.crossAttentionDim]);

  const temb = timeEmbedding(ctx, timestep, blockChannels[0], blockChannels[0] * 4);
  const { resnet, transformer } = unetLayers(ctx, config, temb, context);

  const input = conv2d(ctx, 'conv_in', sample, config.inChannels, blockChannels[0]);
  const encoded = unetEncoder(ctx, config, input, temb, context);
  const { skips } = encoded;
  let { mid: h, channels } = encoded;
  if (config.residualInputs) {
    // Residual inputs declared after the plain inputs: in the order a ControlNet emits them, or
    // (optimum-intel) residual 0 unsuffixed and listed last, the others suffixed _1, _3, _5, ….
    const intel = config.residualNames === 'optimum-intel';
    const nameOf = (i: number) =>
      intel
        ? `down_block_additional_residual${i === 0 ? '' : `_${2 * i - 1}`}`
        : `down_block_additional_residuals.${i}`;
    const order = intel ? [...skips.keys()].slice(1).concat(0) : [...skips.keys()];
    const residuals = new Map<number, string>();
    for (const i of order) {
      const name = nameOf(i);
      residuals.set(i, g.addInput(name, precision, ['batch', skips[i].channels, `${name}_height`, `${name}_width`]));
    }
    skips.forEach((skip, i) => {
      skip.value = g.op('Add', [skip.value, residuals.get(i) as string]);
    });
    const mid = g.addInput('mid_block_additional_residual', precision, [
      'batch',
      channels,
      'mid_block_additional_residual_height',
      'mid_block_additional_residual_width',
    ]);
    h = g.op('Add', [h, mid]);
  }

  const reversed = [...blockChannels].reverse();
  reversed.forEach((outChannels, i) => {
    const withAttention = attentionPerBlock[blockChannels.length - 1 - i];
    g.scope(`up_blocks.${i}`, () => {
      for (let j = 0; j <= layersPerBlock; j++) {
        const skip = skips.pop();
        if (!skip) throw new Error('UNet skip stack underflow');
        h = g.op('Concat', [h, skip.value], { axis: 1 });
        h = resnet(`resnets.${j}`, h, channels + skip.channels, outChannels);
        channels = outChannels;
        if (withAttention) h = transformer(`attentions.${j}`, h, channels);
      }
      if (i < reversed.length - 1) h = upsample(ctx, h, channels, skips[skips.length - 1].value);
    });
  });

  h = silu(ctx, groupNorm(ctx, 'conv_norm_out', h, channels, eps));
  h = conv2d(ctx, 'conv_out', h, channels, config.outChannels);
  g.addOutput('out_sample', precision, ['batch', config.outChannels, 'height', 'width'], h);
  return g;
}

/**
 * Sinusoidal timestep embedding then TimestepEmbedding's MLP. diffusers' get_timestep_embedding
 * with flip_sin_to_cos=True, downscale_freq_shift=0: freqs = exp(-ln(10000) · k / (dim/2)),
 * embedding = [cos(t·freqs), sin(t·freqs)], computed in float32 and cast to the model dtype.
 */
export function timeEmbedding(ctx: NetContext, timestep: string, projectionDim: number, embeddingDim: number): string {
  const g = ctx.graph;
  const half = projectionDim / 2;
  const frequencies = Array.from({ length: half }, (_, k) => Math.exp((-Math.log(10000) * k) / half));
  const projected = g.scope('time_proj', () => {
    const t = ctx.precision === 'float32' ? timestep : g.op('Cast', [timestep], { to: 1 /* FLOAT */ });
    const angles = g.op('Mul', [g.op('Unsqueeze', [t, ctx.int64([1])]), g.constant('float32', [1, half], frequencies)]);
    return g.op('Concat', [g.op('Cos', [angles]), g.op('Sin', [angles])], { axis: -1 });
  });
  const embedding = ctx.precision === 'float32' ? projected : g.op('Cast', [projected], { to: 10 /* FLOAT16 */ });
  return g.scope('time_embedding', () => {
    const hidden = silu(ctx, linear2d(ctx, 'linear_1', embedding, projectionDim, embeddingDim));
    return linear2d(ctx, 'linear_2', hidden, embeddingDim, embeddingDim);
  });
}
