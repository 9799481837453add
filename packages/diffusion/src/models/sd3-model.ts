/**
 * A Stable Diffusion 3 model folder in the diffusers/optimum ONNX layout, loaded into onnxruntime
 * sessions once and reused: two CLIP text encoders with projections (`text_encoder`,
 * `text_encoder_2`), an optional T5 encoder (`text_encoder_3`: ~19 GB in fp32, which users with
 * less memory leave out; its embeddings are then zeros, as in diffusers), the MMDiT `transformer`
 * (its weights usually in external data files beside model.onnx, loaded by path), a 16-channel VAE.
 *
 * Tensor names are checked against the sessions' metadata (optimum's export names); their element
 * types (int32/int64 ids, fp16/fp32) are adapted by OnnxModel.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SchedulerConfig } from '../schedulers/scheduler.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { T5Tokenizer } from '../tokenizer/t5-tokenizer.js';
import { ModelLoadError, OnnxModel, type SessionSettings } from './onnx-session.js';

/** SD3 Medium's VAE constants, for a folder whose `vae_decoder/config.json` lacks them. */
const SD3_VAE_SCALING_FACTOR = 1.5305;
const SD3_VAE_SHIFT_FACTOR = 0.0609;

/** One CLIP text encoder: its session and where its outputs are. */
export interface Sd3ClipEncoder {
  session: OnnxModel;
  tokenizer: ClipTokenizer;
  /** Number of `hidden_states.N` outputs: the embeddings and one per layer (N = layers + 1). */
  hiddenStateCount: number;
  /** Width of the hidden states (768 for CLIP-L, 1280 for CLIP-G). */
  hiddenSize: number;
}

export interface Sd3Model {
  readonly dir: string;
  readonly clipL: Sd3ClipEncoder;
  readonly clipG: Sd3ClipEncoder;
  /** Undefined when the folder has no `text_encoder_3/model.onnx` (or loading it was declined). */
  readonly t5: { session: OnnxModel; tokenizer: T5Tokenizer; outputName: string } | undefined;
  readonly transformer: OnnxModel;
  readonly transformerOutputName: string;
  readonly vaeDecoder: OnnxModel;
  readonly vaeEncoder: OnnxModel | undefined;
  readonly schedulerConfig: SchedulerConfig;
  readonly vaeScalingFactor: number;
  readonly vaeShiftFactor: number;
  readonly latentChannels: number;
  /** Width of the transformer's `encoder_hidden_states` (T5's d_model: 4096 for SD3 Medium). */
  readonly jointAttentionDim: number;
  /** Width of `pooled_projections` (CLIP-L's + CLIP-G's projection: 2048). */
  readonly pooledProjectionDim: number;
  dispose(): Promise<void>;
}

export interface Sd3LoadOptions {
  /** false: do not load `text_encoder_3` even when it is installed (saves its memory; T5 embeddings are zeros). */
  loadT5?: boolean;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function readJson<T>(file: string, fallback?: T): Promise<T> {
  if (fallback !== undefined && !(await exists(file))) return fallback;
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    throw new ModelLoadError(`cannot read ${file}: ${(err as Error).message}`, file);
  }
}

function requireInputs(model: OnnxModel, names: readonly string[]): void {
  for (const name of names) {
    if (!model.hasInput(name)) {
      throw new ModelLoadError(
        `${model.path} has no input named ${name}; is it an optimum SD3 ONNX export? ` +
          `(inputs: ${[...model.inputs.keys()].join(', ')})`,
        model.path,
      );
    }
  }
}

function requireOutput(model: OnnxModel, name: string): string {
  if (model.outputs.has(name)) return name;
  throw new ModelLoadError(
    `${model.path} has no output named ${name} (outputs: ${[...model.outputs.keys()].join(', ')})`,
    model.path,
  );
}

/** The static size of a tensor's axis in the session metadata, or undefined when it is dynamic. */
function staticDim(model: OnnxModel, name: string, axis: number, io: 'inputs' | 'outputs'): number | undefined {
  const dim = model[io].get(name)?.shape[axis];
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

async function loadClip(
  modelDir: string,
  part: string,
  tokenizerPart: string,
  settings: SessionSettings,
): Promise<Sd3ClipEncoder> {
  const session = await OnnxModel.load(path.join(modelDir, part, 'model.onnx'), settings);
  requireInputs(session, ['input_ids']);
  requireOutput(session, 'text_embeds');
  const hiddenStateCount = [...session.outputs.keys()].filter((n) => /^hidden_states\.\d+$/.test(n)).length;
  if (hiddenStateCount < 2) {
    throw new ModelLoadError(
      `${session.path} does not output hidden_states.N: SD3 uses CLIP's penultimate layer; ` +
        'export the text encoders with output_hidden_states',
      session.path,
    );
  }
  const config = await readJson<{ hidden_size?: number }>(path.join(modelDir, part, 'config.json'), {});
  const hiddenSize = staticDim(session, 'hidden_states.0', 2, 'outputs') ?? config.hidden_size;
  if (!hiddenSize)
    throw new ModelLoadError(`${session.path}: cannot tell the width of its hidden states`, session.path);
  const tokenizer = await ClipTokenizer.fromDirectory(path.join(modelDir, tokenizerPart));
  return { session, tokenizer, hiddenStateCount, hiddenSize };
}

export async function loadSd3Model(
  dir: string,
  settings: SessionSettings = {},
  options: Sd3LoadOptions = {},
): Promise<Sd3Model> {
  const modelDir = path.resolve(dir);
  if (!(await exists(modelDir))) throw new ModelLoadError(`model folder ${modelDir} does not exist`, modelDir);
  for (const part of ['text_encoder', 'text_encoder_2', 'transformer', 'vae_decoder']) {
    const file = path.join(modelDir, part, 'model.onnx');
    if (!(await exists(file))) {
      throw new ModelLoadError(`${modelDir} is not an SD3 ONNX model folder: ${part}/model.onnx is missing`, file);
    }
  }
  const schedulerConfig = await readJson<SchedulerConfig>(path.join(modelDir, 'scheduler', 'scheduler_config.json'));
  const vaeConfig = await readJson<{ scaling_factor?: number; shift_factor?: number; latent_channels?: number }>(
    path.join(modelDir, 'vae_decoder', 'config.json'),
    {},
  );
  const transformerConfig = await readJson<{
    joint_attention_dim?: number;
    pooled_projection_dim?: number;
    in_channels?: number;
  }>(path.join(modelDir, 'transformer', 'config.json'), {});

  // One session after the other: loading them concurrently only raises peak memory.
  const loaded: OnnxModel[] = [];
  try {
    const clipL = await loadClip(modelDir, 'text_encoder', 'tokenizer', settings);
    loaded.push(clipL.session);
    const clipG = await loadClip(modelDir, 'text_encoder_2', 'tokenizer_2', settings);
    loaded.push(clipG.session);
    const t5File = path.join(modelDir, 'text_encoder_3', 'model.onnx');
    let t5: Sd3Model['t5'];
    if (options.loadT5 !== false && (await exists(t5File))) {
      const session = await OnnxModel.load(t5File, settings);
      loaded.push(session);
      requireInputs(session, ['input_ids']);
      const outputName = session.outputs.has('last_hidden_state')
        ? 'last_hidden_state'
        : [...session.outputs.keys()][0];
      t5 = { session, tokenizer: await T5Tokenizer.fromDirectory(path.join(modelDir, 'tokenizer_3')), outputName };
    }
    const transformer = await OnnxModel.load(path.join(modelDir, 'transformer', 'model.onnx'), settings);
    loaded.push(transformer);
    requireInputs(transformer, ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep']);
    const transformerOutputName = transformer.outputs.has('out_hidden_states')
      ? 'out_hidden_states'
      : [...transformer.outputs.keys()][0];
    const vaeDecoder = await OnnxModel.load(path.join(modelDir, 'vae_decoder', 'model.onnx'), settings);
    loaded.push(vaeDecoder);
    requireInputs(vaeDecoder, ['latent_sample']);
    const vaeEncoderFile = path.join(modelDir, 'vae_encoder', 'model.onnx');
    const vaeEncoder = (await exists(vaeEncoderFile)) ? await OnnxModel.load(vaeEncoderFile, settings) : undefined;
    if (vaeEncoder) {
      loaded.push(vaeEncoder);
      requireInputs(vaeEncoder, ['sample']);
    }

    const jointAttentionDim =
      staticDim(transformer, 'encoder_hidden_states', 2, 'inputs') ??
      transformerConfig.joint_attention_dim ??
      (t5 && staticDim(t5.session, t5.outputName, 2, 'outputs'));
    const pooledProjectionDim =
      staticDim(transformer, 'pooled_projections', 1, 'inputs') ?? transformerConfig.pooled_projection_dim;
    if (!jointAttentionDim || !pooledProjectionDim) {
      throw new ModelLoadError(
        `${transformer.path}: cannot tell the widths of encoder_hidden_states and pooled_projections; ` +
          'add transformer/config.json',
        transformer.path,
      );
    }
    if (clipL.hiddenSize + clipG.hiddenSize > jointAttentionDim) {
      throw new ModelLoadError(
        `${modelDir}: the CLIP hidden states (${clipL.hiddenSize} + ${clipG.hiddenSize}) are wider than ` +
          "the transformer's " +
          `encoder_hidden_states (${jointAttentionDim})`,
        modelDir,
      );
    }
    return {
      dir: modelDir,
      clipL,
      clipG,
      t5,
      transformer,
      transformerOutputName,
      vaeDecoder,
      vaeEncoder,
      schedulerConfig,
      vaeScalingFactor: vaeConfig.scaling_factor ?? SD3_VAE_SCALING_FACTOR,
      vaeShiftFactor: vaeConfig.shift_factor ?? SD3_VAE_SHIFT_FACTOR,
      latentChannels: staticDim(vaeDecoder, 'latent_sample', 1, 'inputs') ?? vaeConfig.latent_channels ?? 16,
      jointAttentionDim,
      pooledProjectionDim,
      async dispose() {
        for (const m of loaded) await m.dispose();
      },
    };
  } catch (err) {
    for (const m of loaded) await m.dispose().catch(() => undefined);
    throw err;
  }
}
