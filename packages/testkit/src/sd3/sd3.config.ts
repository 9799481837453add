/** Dimensions of the random-weight SD3 the testkit writes (SD3 Medium's topology, tiny widths). */

/** Options of {@link makeTinySd3Model}. */
export interface MakeSd3ModelOptions {
  /** Seed of every weight (default 0). */
  seed?: number;
  /** Write `text_encoder_3/` and `tokenizer_3/` (default true); without them Kiln uses zeros for T5. */
  t5?: boolean;
}

/** A CLIP text tower with projection (transformers' CLIPTextModelWithProjection). */
export interface Sd3ClipConfig {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  projection: number;
  activation: 'quick_gelu' | 'gelu';
}

/** A T5 encoder (transformers' T5EncoderModel, gated-gelu feed-forward). */
export interface Sd3T5Config {
  vocabSize: number;
  dModel: number;
  dKv: number;
  heads: number;
  dFf: number;
  layers: number;
  relativeBuckets: number;
  relativeMaxDistance: number;
}

/** diffusers' SD3Transformer2DModel. */
export interface Sd3TransformerConfig {
  channels: number;
  patchSize: number;
  heads: number;
  headDim: number;
  layers: number;
  jointAttentionDim: number;
  pooledProjectionDim: number;
  /** Side of the positional-embedding grid, in patches (SD3 Medium: 192); images up to 8·2·this pixels. */
  posEmbedMaxSize: number;
  sampleSize: number;
}

export interface Sd3Config {
  seed: number;
  clipL: Sd3ClipConfig;
  clipG: Sd3ClipConfig;
  t5: Sd3T5Config | undefined;
  transformer: Sd3TransformerConfig;
  vae: {
    blockChannels: number[];
    layersPerBlock: number;
    latentChannels: number;
    eps: number;
    scalingFactor: number;
    shiftFactor: number;
  };
}

export function resolveSd3Config(options: MakeSd3ModelOptions = {}): Sd3Config {
  const clipL: Sd3ClipConfig = {
    hidden: 16,
    layers: 2,
    heads: 2,
    intermediate: 32,
    projection: 16,
    activation: 'quick_gelu',
  };
  const clipG: Sd3ClipConfig = {
    hidden: 24,
    layers: 3,
    heads: 2,
    intermediate: 48,
    projection: 24,
    activation: 'gelu',
  };
  const dModel = 48;
  return {
    seed: options.seed ?? 0,
    clipL,
    clipG,
    // vocabSize is set from the generated tokenizer's vocabulary when the model is written.
    t5:
      options.t5 === false
        ? undefined
        : { vocabSize: 0, dModel, dKv: 8, heads: 4, dFf: 64, layers: 2, relativeBuckets: 32, relativeMaxDistance: 128 },
    transformer: {
      channels: 16,
      patchSize: 2,
      // Two heads: at 1024×1024 the joint attention's 4429² scores per head dominate the step time.
      heads: 2,
      headDim: 16,
      layers: 2,
      jointAttentionDim: dModel,
      pooledProjectionDim: clipL.projection + clipG.projection,
      // 1536-pixel sides (the largest SD3 resolution) are 96 patches.
      posEmbedMaxSize: 96,
      sampleSize: 128,
    },
    vae: {
      blockChannels: [8, 8, 16, 16],
      layersPerBlock: 1,
      latentChannels: 16,
      eps: 1e-6,
      scalingFactor: 1.5305,
      shiftFactor: 0.0609,
    },
  };
}
