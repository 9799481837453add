import { GraphBuilder } from '@kiln/onnx';
import { silu } from '../nn/activation.ops.js';
import { conv2d } from '../nn/conv.layer.js';
import { NetContext } from '../nn/net.context.js';
import type { Precision } from '../nn/net.context.js';
import { groupNorm } from '../nn/norm.layer.js';
import { resnetBlock } from '../nn/resnet.block.js';
import { upsample, vaeDownsample } from '../nn/sampling.ops.js';
import { vaeAttention } from '../nn/vae-attention.block.js';
import { uniformValues } from '../prng.js';
import type { VaeConfig } from './sd15.config.js';

/**
 * quant_conv's log-variance rows are biased to this value: the posterior is nearly a point mass
 * (std ≈ 0.02), as in trained VAEs, so sampling it changes little.
 */
const LOG_VARIANCE_BIAS = -8;

/** UNetMidBlock2D of the VAE: resnet, attention, resnet. */
function midBlock(ctx: NetContext, x: string, channels: number, eps: number): string {
  return ctx.graph.scope('mid_block', () => {
    const shape = { inChannels: channels, outChannels: channels, eps };
    let h = resnetBlock(ctx, 'resnets.0', x, shape);
    h = vaeAttention(ctx, 'attentions.0', h, channels, eps);
    return resnetBlock(ctx, 'resnets.1', h, shape);
  });
}

/**
 * AutoencoderKL's encoder + quant_conv: `sample` [batch, 3, H, W] → `latent_sample`
 * [batch, 4, H/8, W/8], or with `latent_parameters` the raw moments [batch, 8, H/8, W/8] (mean,
 * then log-variance), as optimum exports `latent_dist.parameters`. diffusers' own export samples
 * the posterior inside the graph (RandomNormalLike); this one outputs its mean, so the encoder is
 * deterministic — with the log-variance near -8 the two differ by ~0.02.
 */
export function buildVaeEncoder(config: VaeConfig, precision: Precision, seed: number): GraphBuilder {
  const g = new GraphBuilder('vae_encoder');
  const ctx = new NetContext(g, precision, seed);
  const { blockChannels, layersPerBlock, eps, latentChannels } = config;
  const sample = g.addInput('sample', precision, ['batch', 'channels', 'height', 'width']);

  const moments = g.scope('encoder', () => {
    let h = conv2d(ctx, 'conv_in', sample, 3, blockChannels[0]);
    let channels = blockChannels[0];
    blockChannels.forEach((outChannels, i) => {
      g.scope(`down_blocks.${i}`, () => {
        for (let j = 0; j < layersPerBlock; j++) {
          h = resnetBlock(ctx, `resnets.${j}`, h, { inChannels: channels, outChannels, eps });
          channels = outChannels;
        }
        if (i < blockChannels.length - 1) h = vaeDownsample(ctx, h, channels);
      });
    });
    h = midBlock(ctx, h, channels, eps);
    h = silu(ctx, groupNorm(ctx, 'conv_norm_out', h, channels, eps));
    return conv2d(ctx, 'conv_out', h, channels, 2 * latentChannels);
  });
  const parameters = quantConv(ctx, moments, latentChannels);

  if (config.encoderOutput === 'latent_parameters') {
    g.addOutput(
      'latent_parameters',
      precision,
      ['batch', 2 * latentChannels, 'height_latent', 'width_latent'],
      parameters,
    );
  } else {
    const mean = g.op('Slice', [parameters, ctx.int64([0]), ctx.int64([latentChannels]), ctx.int64([1])]);
    g.addOutput('latent_sample', precision, ['batch', latentChannels, 'height_latent', 'width_latent'], mean);
  }
  return g;
}

/** The 1×1 quant_conv over the moments, with the log-variance half of its bias near {@link LOG_VARIANCE_BIAS}. */
function quantConv(ctx: NetContext, moments: string, latentChannels: number): string {
  const g = ctx.graph;
  const width = 2 * latentChannels;
  return g.scope('quant_conv', () => {
    const weight = ctx.parameter('weight', [width, width, 1, 1], { std: 0.5 / Math.sqrt(width) });
    const bias = ctx.customParameter('bias', [width], (seed, key) => {
      const values = uniformValues(seed, key, width, 0.05);
      for (let c = latentChannels; c < width; c++) values[c] += LOG_VARIANCE_BIAS;
      return values;
    });
    return g.op('Conv', [moments, weight, bias], { kernel_shape: [1, 1] });
  });
}

/**
 * post_quant_conv + AutoencoderKL's decoder: `latent_sample` [batch, 4, h, w] →
 * `sample` [batch, 3, 8h, 8w] (three 2× nearest upsamplings).
 */
export function buildVaeDecoder(config: VaeConfig, precision: Precision, seed: number): GraphBuilder {
  const g = new GraphBuilder('vae_decoder');
  const ctx = new NetContext(g, precision, seed);
  const { blockChannels, layersPerBlock, eps, latentChannels } = config;
  const latent = g.addInput('latent_sample', precision, ['batch', 'channels', 'height', 'width']);
  const postQuant = conv2d(ctx, 'post_quant_conv', latent, latentChannels, latentChannels, { kernel: 1 });

  const image = g.scope('decoder', () => {
    const reversed = [...blockChannels].reverse();
    let channels = reversed[0];
    let h = conv2d(ctx, 'conv_in', postQuant, latentChannels, channels);
    h = midBlock(ctx, h, channels, eps);
    reversed.forEach((outChannels, i) => {
      g.scope(`up_blocks.${i}`, () => {
        for (let j = 0; j <= layersPerBlock; j++) {
          h = resnetBlock(ctx, `resnets.${j}`, h, { inChannels: channels, outChannels, eps });
          channels = outChannels;
        }
        if (i < reversed.length - 1) h = upsample(ctx, h, channels);
      });
    });
    h = silu(ctx, groupNorm(ctx, 'conv_norm_out', h, channels, eps));
    return conv2d(ctx, 'conv_out', h, channels, 3);
  });
  g.addOutput('sample', precision, ['batch', 3, 'height_image', 'width_image'], image);
  return g;
}
