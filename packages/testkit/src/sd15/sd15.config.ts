import type { Precision } from '../nn/net.context.js';
import type { ControlNetConfig } from './controlnet.graph.js';

/** Options of {@link makeTinySd15Model}. */
export interface MakeSd15ModelOptions {
  /** Seed of every weight (default 0). */
  seed?: number;
  /** Real SD1.5 dimensions (~1.07 B parameters, ~4.3 GB in fp32) instead of the tiny test net. */
  fullSize?: boolean;
  /** float16 weights and float16 inputs/outputs, like diffusers' fp16 export. */
  fp16?: boolean;
  /** 4 for txt2img/img2img, 9 for an inpainting UNet (latents + mask + masked-image latents). */
  unetInChannels?: 4 | 9;
  /** UNet block_out_channels. */
  blockChannels?: number[];
  /** Text embedding width (text encoder hidden size = UNet cross_attention_dim). */
  crossAttentionDim?: number;
  /** Number of CLIP transformer layers. */
  textLayers?: number;
  /** VAE encoder output: diffusers' `latent_sample` or optimum's `latent_parameters` (mean ‖ log-variance). */
  vaeOutputs?: 'latent_sample' | 'latent_parameters';
  /**
   * Also write `controlnet/model.onnx` (a ControlNet of the UNet's layout) and a UNet that takes its
   * residuals (`down_block_additional_residuals.{i}`, `mid_block_additional_residual`), as the shared
   * diffusers reference model has them.
   */
  controlnet?: boolean;
  /**
   * How the UNet's residual inputs are named: `diffusers` (`down_block_additional_residuals.{i}`, the
   * shared reference model's) or `optimum-intel` (`down_block_additional_residual`, `…_1`, `…_3`, …,
   * listed suffixed first, as optimum's Intel "unet-controlnet" branch exports them).
   */
  residualNames?: 'diffusers' | 'optimum-intel';
}

/** CLIP text transformer dimensions (transformers' CLIPTextConfig names in comments). */
export interface TextEncoderConfig {
  vocabSize: number; // vocab_size
  maxPositions: number; // max_position_embeddings
  hidden: number; // hidden_size
  layers: number; // num_hidden_layers
  heads: number; // num_attention_heads
  intermediate: number; // intermediate_size
  eps: number; // layer_norm_eps
}

/** UNet2DConditionModel dimensions (diffusers config names in comments). */
export interface UnetConfig {
  inChannels: number; // in_channels
  outChannels: number; // out_channels
  blockChannels: number[]; // block_out_channels
  layersPerBlock: number; // layers_per_block
  heads: number; // attention_head_dim (SD1.5 uses it as the number of heads)
  crossAttentionDim: number; // cross_attention_dim
  eps: number; // norm_eps
  /** Down blocks with cross-attention (CrossAttnDownBlock2D); the up path mirrors it. */
  attentionPerBlock: boolean[];
  /** ControlNet residual inputs (the "UNet with ControlNet inputs" export). */
  residualInputs: boolean;
  residualNames: 'diffusers' | 'optimum-intel';
}

/** AutoencoderKL dimensions. */
export interface VaeConfig {
  blockChannels: number[];
  layersPerBlock: number;
  latentChannels: number;
  eps: number;
  encoderOutput: 'latent_sample' | 'latent_parameters';
}

/** Everything needed to build the four graphs. */
export interface Sd15Config {
  seed: number;
  precision: Precision;
  fullSize: boolean;
  text: TextEncoderConfig;
  unet: UnetConfig;
  vae: VaeConfig;
  /** Set when a ControlNet is written beside the model. */
  controlnet?: ControlNetConfig;
}

/** CLIP's BPE vocabulary size and context length (openai/clip-vit-large-patch14). */
const CLIP_VOCAB_SIZE = 49408;
const CLIP_MAX_POSITIONS = 77;

/** SD1.5's dimensions (runwayml/stable-diffusion-v1-5 unet/vae configs, CLIP ViT-L/14 text tower). */
const FULL = {
  textHidden: 768,
  textLayers: 12,
  unetBlocks: [320, 640, 1280, 1280],
  unetLayers: 2,
  unetHeads: 8,
  // three CrossAttnDownBlock2D, then a plain DownBlock2D
  attention: 'all-but-last-block',
  vaeBlocks: [128, 256, 512, 512],
  vaeLayers: 2,
};

/**
 * The tiny test net: same topology, narrow and shallow, so 10 UNet steps at 64×64 take
 * milliseconds. Its cross-attention sits in the lower-resolution block only (diffusers' own tiny
 * test UNets use ("DownBlock2D", "CrossAttnDownBlock2D")): self-attention over a 512×512 image's
 * 4096 full-resolution latent tokens would make the API's default size take seconds per step.
 */
const TINY = {
  textHidden: 32,
  textLayers: 4,
  unetBlocks: [32, 64],
  unetLayers: 1,
  unetHeads: 2,
  attention: 'last-block',
  vaeBlocks: [16, 16, 32, 32],
  vaeLayers: 1,
};

/** The largest of `preferred` heads that divides every width (falls back toward one head). */
function headsDividing(widths: number[], preferred: number): number {
  for (let heads = preferred; heads > 1; heads--) {
    if (widths.every((width) => width % heads === 0)) return heads;
  }
  return 1;
}

/** Turns user options into a complete, validated configuration. */
export function resolveSd15Config(options: MakeSd15ModelOptions = {}): Sd15Config {
  const base = options.fullSize ? FULL : TINY;
  const textHidden = options.crossAttentionDim ?? base.textHidden;
  const blockChannels = options.blockChannels ?? base.unetBlocks;
  const inChannels = options.unetInChannels ?? 4;
  if (inChannels !== 4 && inChannels !== 9) throw new Error(`unetInChannels must be 4 or 9, got ${inChannels}`);
  if (blockChannels.length < 1 || blockChannels.some((c) => !Number.isInteger(c) || c <= 0 || c % 2 !== 0)) {
    throw new Error(`blockChannels must be positive even integers, got [${blockChannels.join(', ')}]`);
  }
  if (!Number.isInteger(textHidden) || textHidden <= 0) throw new Error(`crossAttentionDim must be a positive integer`);
  const textLayers = options.textLayers ?? base.textLayers;
  if (!Number.isInteger(textLayers) || textLayers < 1) throw new Error(`textLayers must be at least 1`);
  return {
    seed: options.seed ?? 0,
    precision: options.fp16 ? 'float16' : 'float32',
    fullSize: options.fullSize ?? false,
    text: {
      vocabSize: CLIP_VOCAB_SIZE,
      maxPositions: CLIP_MAX_POSITIONS,
      hidden: textHidden,
      layers: textLayers,
      // CLIP uses 64-wide heads (768 = 12 × 64); narrow nets fall back to fewer heads.
      heads: textHidden % 64 === 0 ? textHidden / 64 : headsDividing([textHidden], 4),
      intermediate: textHidden * 4,
      eps: 1e-5,
    },
    unet: {
      inChannels,
      outChannels: 4,
      blockChannels: [...blockChannels],
      layersPerBlock: base.unetLayers,
      heads: headsDividing(blockChannels, base.unetHeads),
      crossAttentionDim: textHidden,
      eps: 1e-5,
      // A single block always keeps its attention.
      attentionPerBlock: blockChannels.map((_, i) => {
        const last = i === blockChannels.length - 1;
        return blockChannels.length === 1 || (base.attention === 'last-block' ? last : !last);
      }),
      residualInputs: options.controlnet ?? false,
      residualNames: options.residualNames ?? 'diffusers',
    },
    ...(options.controlnet && {
      // diffusers' default (16, 32, 96, 256) for SD1.5; narrow for the tiny net. Three stride-2
      // steps: the conditioning image is 8× the latent size.
      controlnet: {
        embeddingChannels: options.fullSize ? [16, 32, 96, 256] : [8, 16, 16, 16],
        conditioningChannels: 3,
      },
    }),
    vae: {
      blockChannels: [...base.vaeBlocks],
      layersPerBlock: base.vaeLayers,
      latentChannels: 4,
      eps: 1e-6,
      encoderOutput: options.vaeOutputs ?? 'latent_sample',
    },
  };
}
