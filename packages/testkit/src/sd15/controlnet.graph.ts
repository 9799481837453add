import { GraphBuilder } from '@kiln/onnx';
import { silu } from '../nn/activation.ops.js';
import { conv2d } from '../nn/conv.layer.js';
import { NetContext } from '../nn/net.context.js';
import type { Precision } from '../nn/net.context.js';
import type { UnetConfig } from './sd15.config.js';
import { timeEmbedding, unetEncoder } from './unet.graph.js';

/** ControlNetModel's own dimensions beside the UNet's it copies. */
export interface ControlNetConfig {
  /** `conditioning_embedding_out_channels`: each step after the first halves the image side. */
  embeddingChannels: number[];
  /** Channels of the conditioning image (3: RGB). */
  conditioningChannels: number;
}

/**
 * diffusers' ControlNetModel as the shared reference model exports it (optimum's ControlNet
 * names): `sample`, `timestep`, `encoder_hidden_states`, `controlnet_cond` [batch, 3, 8H, 8W],
 * `conditioning_scale` [1] → `down_block_res_samples.{i}` (one per skip tensor of the UNet) and
 * `mid_block_res_sample`, each through its 1×1 "zero" convolution (random here, so that it acts)
 * and multiplied by `conditioning_scale`.
 *
 * conv_in(sample) + controlnet_cond_embedding(cond) feeds a copy of the UNet's down path and mid
 * block; the embedding is conv_in → SiLU → per step (conv, SiLU, stride-2 conv, SiLU) → conv_out.
 */
export function buildControlNet(
  unet: UnetConfig,
  controlnet: ControlNetConfig,
  precision: Precision,
  seed: number,
): GraphBuilder {
  const g = new GraphBuilder('controlnet');
  const ctx = new NetContext(g, precision, seed);
  const { blockChannels } = unet;
  const sample = g.addInput('sample', precision, [
    'batch_size',
    'num_channels_latent',
    'height_latent',
    'width_latent',
  ]);
  const timestep = g.addInput('timestep', precision, ['steps']);
  const context = g.addInput('encoder_hidden_states', precision, [
    'batch_size',
    'sequence_length',
    unet.crossAttentionDim,
  ]);
  const cond = g.addInput('controlnet_cond', precision, ['batch_size', 'num_channels', 'height', 'width']);
  const scale = g.addInput('conditioning_scale', precision, [1]);

  const temb = timeEmbedding(ctx, timestep, blockChannels[0], blockChannels[0] * 4);
  const h = conv2d(ctx, 'conv_in', sample, unet.inChannels, blockChannels[0]);
  const embedding = g.scope('controlnet_cond_embedding', () => {
    const widths = controlnet.embeddingChannels;
    let x = silu(ctx, conv2d(ctx, 'conv_in', cond, controlnet.conditioningChannels, widths[0]));
    for (let i = 0; i < widths.length - 1; i++) {
      x = silu(ctx, conv2d(ctx, `blocks.${2 * i}`, x, widths[i], widths[i]));
      x = silu(ctx, conv2d(ctx, `blocks.${2 * i + 1}`, x, widths[i], widths[i + 1], { stride: 2 }));
    }
    return conv2d(ctx, 'conv_out', x, widths[widths.length - 1], blockChannels[0]);
  });
  const encoded = unetEncoder(ctx, unet, g.op('Add', [h, embedding]), temb, context);

  const zeroConv = (scope: string, x: string, channels: number) =>
    g.op('Mul', [conv2d(ctx, scope, x, channels, channels, { kernel: 1 }), scale]);
  encoded.skips.forEach((skip, i) => {
    const name = `down_block_res_samples.${i}`;
    g.addOutput(
      name,
      precision,
      ['batch_size', skip.channels, `${name}_height`, `${name}_width`],
      zeroConv(`controlnet_down_blocks.${i}`, skip.value, skip.channels),
    );
  });
  g.addOutput(
    'mid_block_res_sample',
    precision,
    ['batch_size', encoded.channels, 'mid_block_res_sample_height', 'mid_block_res_sample_width'],
    zeroConv('controlnet_mid_block', encoded.mid, encoded.channels),
  );
  return g;
}
