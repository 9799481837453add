import type { GraphBuilder } from '@kiln/onnx';
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildVaeDecoder, buildVaeEncoder } from '../sd15/vae.graph.js';
import { buildSd3ClipEncoder } from './clip-projection.graph.js';
import { buildMmdit } from './mmdit.graph.js';
import { resolveSd3Config, type MakeSd3ModelOptions, type Sd3Config } from './sd3.config.js';
import { buildT5Encoder } from './t5-encoder.graph.js';
import { T5_SPECIAL_TOKENS_MAP, T5_TOKENIZER_CONFIG, t5TokenizerJson, t5Vocabulary } from './t5-tokenizer.files.js';

/** The real CLIP vocabulary shipped with the testkit. */
const CLIP_ASSETS = fileURLToPath(new URL('../../assets/clip/', import.meta.url));

export interface MadeSd3Model {
  dir: string;
  config: Sd3Config;
  /** Size in bytes of every model.onnx written, by path relative to `dir`. */
  files: Record<string, number>;
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/**
 * Writes a random-weight Stable Diffusion 3 model folder in the diffusers/optimum ONNX layout, with
 * the input and output names of optimum's SD3 export: model_index.json, scheduler/ (SD3 Medium's
 * flow-matching config, shift 3.0), tokenizer/ and tokenizer_2/ (the real CLIP vocabulary; the second
 * pads with "!"), tokenizer_3/tokenizer.json (a generated T5-style Unigram vocabulary), text_encoder/
 * and text_encoder_2/ (CLIPs with projections), text_encoder_3/ (a small T5 encoder), transformer/
 * (MMDiT), vae_encoder/ and vae_decoder/ (16 latent channels). Same options and seed → same bytes.
 */
export async function makeTinySd3Model(dir: string, options: MakeSd3ModelOptions = {}): Promise<MadeSd3Model> {
  const config = resolveSd3Config(options);
  const { seed } = config;
  const vocab = t5Vocabulary();
  if (config.t5) config.t5.vocabSize = vocab.length;
  await mkdir(dir, { recursive: true });
  for (const stale of ['text_encoder_3', 'tokenizer_3']) await rm(join(dir, stale), { recursive: true, force: true });

  const files: Record<string, number> = {};
  const write = async (component: string, graph: GraphBuilder, componentConfig?: unknown) => {
    const path = join(dir, component, 'model.onnx');
    await graph.write(path, {
      producerName: '@kiln/testkit',
      docString: `Random-weight SD3 ${component} (seed ${seed}) written by @kiln/testkit. Not a trained model.`,
    });
    if (componentConfig) await writeFile(join(dir, component, 'config.json'), json(componentConfig));
    files[`${component}/model.onnx`] = (await stat(path)).size;
  };

  await writePipelineFiles(dir, config);
  const clipConfig = (c: Sd3Config['clipL']) => ({
    architectures: ['CLIPTextModelWithProjection'],
    hidden_act: c.activation,
    hidden_size: c.hidden,
    intermediate_size: c.intermediate,
    num_attention_heads: c.heads,
    num_hidden_layers: c.layers,
    projection_dim: c.projection,
    max_position_embeddings: 77,
    vocab_size: 49408,
  });
  await write('text_encoder', buildSd3ClipEncoder('text_encoder', config.clipL, seed), clipConfig(config.clipL));
  await write(
    'text_encoder_2',
    buildSd3ClipEncoder('text_encoder_2', config.clipG, seed + 1),
    clipConfig(config.clipG),
  );
  if (config.t5) {
    const t5 = config.t5;
    await write('text_encoder_3', buildT5Encoder(t5, seed), {
      architectures: ['T5EncoderModel'],
      d_model: t5.dModel,
      d_kv: t5.dKv,
      d_ff: t5.dFf,
      num_heads: t5.heads,
      num_layers: t5.layers,
      feed_forward_proj: 'gated-gelu',
      relative_attention_num_buckets: t5.relativeBuckets,
      relative_attention_max_distance: t5.relativeMaxDistance,
      vocab_size: t5.vocabSize,
    });
    await mkdir(join(dir, 'tokenizer_3'), { recursive: true });
    await writeFile(join(dir, 'tokenizer_3', 'tokenizer.json'), t5TokenizerJson(vocab));
    await writeFile(join(dir, 'tokenizer_3', 'tokenizer_config.json'), json(T5_TOKENIZER_CONFIG));
    await writeFile(join(dir, 'tokenizer_3', 'special_tokens_map.json'), json(T5_SPECIAL_TOKENS_MAP));
  }
  const tr = config.transformer;
  await write('transformer', buildMmdit(tr, seed), {
    attention_head_dim: tr.headDim,
    caption_projection_dim: tr.heads * tr.headDim,
    in_channels: tr.channels,
    joint_attention_dim: tr.jointAttentionDim,
    num_attention_heads: tr.heads,
    num_layers: tr.layers,
    out_channels: tr.channels,
    patch_size: tr.patchSize,
    pooled_projection_dim: tr.pooledProjectionDim,
    pos_embed_max_size: tr.posEmbedMaxSize,
    sample_size: tr.sampleSize,
  });
  const vae = { ...config.vae, encoderOutput: 'latent_parameters' as const };
  const vaeConfig = {
    block_out_channels: vae.blockChannels,
    latent_channels: vae.latentChannels,
    layers_per_block: vae.layersPerBlock,
    scaling_factor: vae.scalingFactor,
    shift_factor: vae.shiftFactor,
  };
  await write('vae_encoder', buildVaeEncoder(vae, 'float32', seed), vaeConfig);
  await write('vae_decoder', buildVaeDecoder(vae, 'float32', seed), vaeConfig);
  return { dir, config, files };
}

/** model_index.json, scheduler/ and the two CLIP tokenizers. */
async function writePipelineFiles(dir: string, config: Sd3Config): Promise<void> {
  const index = {
    _class_name: 'StableDiffusion3Pipeline',
    _diffusers_version: '0.38.0',
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
    text_encoder: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_2: ['transformers', 'CLIPTextModelWithProjection'],
    text_encoder_3: config.t5 ? ['transformers', 'T5EncoderModel'] : [null, null],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'CLIPTokenizer'],
    tokenizer_3: config.t5 ? ['transformers', 'T5TokenizerFast'] : [null, null],
    transformer: ['diffusers', 'SD3Transformer2DModel'],
    vae: ['diffusers', 'AutoencoderKL'],
  };
  await writeFile(join(dir, 'model_index.json'), json(index));
  await mkdir(join(dir, 'scheduler'), { recursive: true });
  const scheduler = {
    _class_name: 'FlowMatchEulerDiscreteScheduler',
    _diffusers_version: '0.29.0.dev0',
    num_train_timesteps: 1000,
    shift: 3.0,
  };
  await writeFile(join(dir, 'scheduler', 'scheduler_config.json'), json(scheduler));
  for (const [folder, pad] of [
    ['tokenizer', '<|endoftext|>'],
    ['tokenizer_2', '!'],
  ]) {
    await mkdir(join(dir, folder), { recursive: true });
    for (const file of await readdir(CLIP_ASSETS)) await copyFile(join(CLIP_ASSETS, file), join(dir, folder, file));
    // SD3's second CLIP tokenizer pads with "!" (id 0), as SDXL's does.
    for (const file of ['tokenizer_config.json', 'special_tokens_map.json']) {
      const content = JSON.parse(await readFile(join(dir, folder, file), 'utf8'));
      await writeFile(join(dir, folder, file), json({ ...content, pad_token: pad }));
    }
  }
}
