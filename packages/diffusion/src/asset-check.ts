/**
 * Upload-time checks of asset files: the core's safe parsers and the LoRA fit check, for a
 * process that must not load ONNX sessions (the API). This entry point (`@kiln/diffusion/asset-check`)
 * imports neither onnxruntime-node nor sharp — only the parsers, the protobuf reader and the graph
 * index — so a bad upload is refused exactly as a worker would refuse it at load.
 */
import { join } from 'node:path';
import { decodeModel, type GraphProto } from '@kiln/onnx';
import { AssetError } from './assets/asset-error.js';
import { readZip } from './assets/zip-reader.js';
import { parseEmbedding } from './assets/embedding-file.js';
import { parseLora } from './assets/lora-file.js';
import { mergeLoras, type UnmatchedLoraKey } from './assets/lora-merge.js';
import { openComponent, type ModelComponent } from './assets/model-component.js';
import { parseSafetensors } from './assets/safetensors.js';
import { tokenEmbedding } from './assets/textual-inversion.js';

export { AssetError, type AssetErrorCode } from './assets/asset-error.js';
export { readZip } from './assets/zip-reader.js';
export type { UnmatchedLoraKey } from './assets/lora-merge.js';

interface ModelGraphs {
  unet: ModelComponent;
  text_encoder: ModelComponent;
}

/** Graphs (weights left on disk) of the models checked against, read once per process and folder. */
const graphs = new Map<string, Promise<ModelGraphs>>();

function modelGraphs(modelDir: string): Promise<ModelGraphs> {
  let entry = graphs.get(modelDir);
  if (!entry) {
    entry = Promise.all([
      openComponent(join(modelDir, 'unet', 'model.onnx')),
      openComponent(join(modelDir, 'text_encoder', 'model.onnx')),
    ]).then(([unet, text_encoder]) => ({ unet, text_encoder }));
    entry.catch(() => graphs.delete(modelDir));
    graphs.set(modelDir, entry);
  }
  return entry;
}

export interface LoraCheck {
  /** LoRA layers that match a module of the model and fit its weight. */
  layers: number;
  /** Keys that match nothing (reported, as a job would report them). */
  unmatched: UnmatchedLoraKey[];
}

/**
 * A LoRA file parsed and matched against the model in `modelDir`, every layer's shape checked
 * (no weight is read: a merge at weight 0 only plans). Throws {@link AssetError}.
 */
export async function checkLoraFile(bytes: Uint8Array, name: string, modelDir: string): Promise<LoraCheck> {
  const lora = parseLora(parseSafetensors(bytes, name), name);
  if (lora.layers.length === 0) throw new AssetError('invalid_lora', 'has no LoRA layers (kohya or PEFT keys)', name);
  const { unet, text_encoder } = await modelGraphs(modelDir);
  const { unmatched } = await mergeLoras({ unet, text_encoder }, [{ lora, weight: 0 }]);
  const layers = lora.layers.length - unmatched.filter((u) => lora.layers.some((l) => l.key === u.key)).length;
  if (layers === 0) throw new AssetError('invalid_lora', 'no layer matches a module of the model', name);
  return { layers, unmatched };
}

/** An embedding parsed and its width checked against the text encoder's. Throws {@link AssetError}. */
export async function checkEmbeddingFile(
  bytes: Uint8Array,
  name: string,
  modelDir: string,
): Promise<{ vectors: number; dim: number; token?: string }> {
  const embedding = parseEmbedding(bytes, name);
  const width = tokenEmbedding((await modelGraphs(modelDir)).text_encoder).dims?.[1];
  if (embedding.dim !== Number(width)) {
    throw new AssetError(
      'shape_mismatch',
      `embedding vectors have ${embedding.dim} values, the model's text encoder takes ${width}`,
      name,
    );
  }
  return { vectors: embedding.vectors, dim: embedding.dim, ...(embedding.token && { token: embedding.token }) };
}

/** The graph of an uploaded single-file ONNX model; 422 `invalid_model` when the bytes are not one. */
function uploadedGraph(bytes: Uint8Array, name: string): GraphProto {
  try {
    return decodeModel(bytes).graph ?? {};
  } catch (err) {
    throw new AssetError('invalid_model', `is not an ONNX model (${(err as Error).message})`, name);
  }
}

/** An upload is one file: weights kept in external files could not be found (or would be read from anywhere). */
function assertSelfContained(graph: GraphProto, name: string): void {
  if ((graph.initializer ?? []).some((tensor) => (tensor.externalData ?? []).length > 0))
    throw new AssetError('invalid_model', 'keeps weights in external files; upload one self-contained .onnx', name);
}

/**
 * A VAE decoder as one ONNX file: it must parse and read `latent_sample` into `sample`, as a
 * diffusers export's `vae_decoder/model.onnx` does. Weights must be inline (one file).
 */
export function checkVaeDecoderFile(bytes: Uint8Array, name: string): { latentChannels?: number } {
  const graph = uploadedGraph(bytes, name);
  const input = (graph.input ?? []).find((value) => value.name === 'latent_sample');
  if (!input || !(graph.output ?? []).some((value) => value.name === 'sample')) {
    throw new AssetError('invalid_model', 'is not a VAE decoder: expected input latent_sample and output sample', name);
  }
  assertSelfContained(graph, name);
  const channels = input.type?.tensorType?.shape?.dim?.[1]?.dimValue;
  return channels === undefined ? {} : { latentChannels: Number(channels) };
}

/**
 * A ControlNet as one ONNX file in optimum's ControlNet layout (docs/controlnet.md): inputs
 * `sample`, `timestep`, `encoder_hidden_states`, `controlnet_cond` (and optionally
 * `conditioning_scale`), outputs `down_block_res_samples.{i}` and `mid_block_res_sample`. Weights
 * must be inline (one file). Throws {@link AssetError}.
 */
export function checkControlNetFile(
  bytes: Uint8Array,
  name: string,
): { down_residuals: number; conditioning_scale_input: boolean } {
  const graph = uploadedGraph(bytes, name);
  // Initializers may be listed as graph inputs by older exporters: only the real inputs count.
  const weights = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = new Set((graph.input ?? []).map((v) => v.name).filter((n) => !weights.has(n)));
  const outputs = (graph.output ?? []).map((v) => v.name ?? '');
  const missing = ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond'].filter((n) => !inputs.has(n));
  const down = outputs.filter((n) => /^down_block_res_samples?[._]?\d+$/.test(n));
  if (missing.length > 0 || down.length === 0 || !outputs.some((n) => /^mid_block_res_samples?$/.test(n))) {
    throw new AssetError(
      'invalid_model',
      'is not a ControlNet export: expected inputs sample, timestep, encoder_hidden_states, controlnet_cond and ' +
        'outputs down_block_res_samples.{i}, mid_block_res_sample' +
        (missing.length > 0 ? ` (missing ${missing.join(', ')})` : ''),
      name,
    );
  }
  assertSelfContained(graph, name);
  return { down_residuals: down.length, conditioning_scale_input: inputs.has('conditioning_scale') };
}

/** The files an SD1.5 checkpoint archive must hold (diffusers' ONNX layout). */
const CHECKPOINT_FILES = [
  'model_index.json',
  'unet/model.onnx',
  'text_encoder/model.onnx',
  'vae_decoder/model.onnx',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
];

/** One path segment of an archive entry: no `..`, no absolute paths, no odd characters. */
const SAFE_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * The files of a checkpoint archive (a zip of a diffusers-layout ONNX folder, optionally inside one
 * top folder), by their path in the model folder. Every entry name is checked to be a relative
 * path of safe segments before anything is written anywhere. Throws {@link AssetError}.
 */
export function checkpointArchiveFiles(bytes: Uint8Array, name: string): Map<string, Uint8Array> {
  const entries = [...readZip(bytes, name)].filter(([entry]) => !entry.endsWith('/'));
  for (const [entry] of entries) {
    if (!entry.split('/').every((segment) => SAFE_SEGMENT.test(segment))) {
      throw new AssetError(
        'invalid_zip',
        `entry ${JSON.stringify(entry.slice(0, 200))} is not a safe relative path`,
        name,
      );
    }
  }
  const index = entries.map(([entry]) => entry).filter((entry) => entry.endsWith('model_index.json'));
  const top = index.length === 1 && /^[^/]+\/model_index\.json$/.test(index[0]) ? index[0].split('/')[0] + '/' : '';
  const files = new Map(
    entries.flatMap(([entry, data]) => (entry.startsWith(top) ? [[entry.slice(top.length), data]] : [])),
  );
  const missing = CHECKPOINT_FILES.filter((file) => !files.has(file));
  if (missing.length > 0) {
    throw new AssetError('invalid_model', `is not a diffusers SD1.5 ONNX folder: no ${missing.join(', ')}`, name);
  }
  let pipeline: unknown;
  try {
    pipeline = (JSON.parse(new TextDecoder().decode(files.get('model_index.json'))) as { _class_name?: unknown })
      ._class_name;
  } catch (err) {
    throw new AssetError('invalid_model', `model_index.json is not JSON (${(err as Error).message})`, name);
  }
  if (typeof pipeline === 'string' && pipeline.startsWith('StableDiffusion3')) {
    throw new AssetError('invalid_model', `is an SD3 model (${pipeline}); checkpoints are SD1.5 models`, name);
  }
  for (const part of ['unet', 'text_encoder', 'vae_decoder']) {
    try {
      decodeModel(files.get(`${part}/model.onnx`) as Uint8Array);
    } catch (err) {
      throw new AssetError(
        'invalid_model',
        `${part}/model.onnx is not an ONNX model (${(err as Error).message})`,
        name,
      );
    }
  }
  return files;
}
