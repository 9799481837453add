/**
 * A Stable Diffusion 1.5 model folder in the diffusers ONNX layout (as written by diffusers'
 * conversion script or optimum's export), loaded into onnxruntime sessions once and reused.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ClipTokenizer } from '../tokenizer/index.js';
import type { SchedulerConfig } from '../schedulers/scheduler.js';
import { ModelLoadError, OnnxModel, type SessionSettings } from './onnx-session.js';
import { unetInChannels } from './unet-channels.js';
import { ControlNetModel } from './controlnet-model.js';
import { findUnetResidualInputs, type UnetResidualInputs } from './unet-residual-inputs.js';

/** SD1.5's VAE latent scale; diffusers' ONNX pipeline hard-codes it, a `vae_decoder/config.json` may override it. */
const SD15_VAE_SCALING_FACTOR = 0.18215;

export interface Sd15Model {
  readonly dir: string;
  readonly tokenizer: ClipTokenizer;
  readonly textEncoder: OnnxModel;
  readonly unet: OnnxModel;
  readonly vaeDecoder: OnnxModel;
  readonly vaeEncoder: OnnxModel | undefined;
  readonly safetyChecker: OnnxModel | undefined;
  readonly schedulerConfig: SchedulerConfig;
  readonly vaeScalingFactor: number;
  /** 4 for text-to-image UNets, 9 for inpainting UNets ([latents, mask, masked-image latents]). */
  readonly unetInChannels: number;
  /** Name of the text encoder's main output (`last_hidden_state` in every known export). */
  readonly textOutputName: string;
  /** Number of `hidden_states.N` outputs, 0 when the export does not expose them (then clip_skip > 1 is refused). */
  readonly hiddenStateCount: number;
  /** The UNet's ControlNet residual inputs; undefined for a plain UNet (which cannot take a ControlNet). */
  readonly unetResiduals: UnetResidualInputs | undefined;
  /** diffusers' `layers_per_block` of the UNet from unet/config.json (where its residuals halve in size), if written. */
  readonly unetLayersPerBlock: number | undefined;
  /** ControlNets loaded with the model (an asset set's), by the resolved path of their `model.onnx`. */
  readonly controlnets: ReadonlyMap<string, ControlNetModel>;
  dispose(): Promise<void>;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function readJson<T>(file: string): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    throw new ModelLoadError(`cannot read ${file}: ${(err as Error).message}`, file);
  }
}

/**
 * How an asset set changes what is loaded from a model folder (built by assets/sd15-assets.ts):
 * components read from another folder (a swapped VAE), sessions created another way (patched
 * weights), another tokenizer (textual-inversion tokens).
 */
export interface Sd15ModelParts {
  /** The folder holding `<part>/model.onnx` for a part, when not the model's own. */
  partDir?: (part: string) => string | undefined;
  /** Creates a part's session instead of `OnnxModel.load`. */
  loadSession?: (part: string, file: string, settings: SessionSettings) => Promise<OnnxModel>;
  tokenizer?: ClipTokenizer;
  /** ControlNet `model.onnx` files to load with the model (cached and released with its sessions). */
  controlnets?: readonly string[];
}

type PartArgs = [dir: string, part: string, settings: SessionSettings, parts: Sd15ModelParts];
async function loadPart(...args: [...PartArgs, optional: true]): Promise<OnnxModel | undefined>;
async function loadPart(...args: PartArgs): Promise<OnnxModel>;
async function loadPart(dir: string, part: string, settings: SessionSettings, parts: Sd15ModelParts, optional = false) {
  const folder = parts.partDir?.(part) ?? dir;
  const file = path.join(folder, part, 'model.onnx');
  if (!(await exists(file))) {
    if (optional) return undefined;
    throw new ModelLoadError(`${folder} is not an SD1.5 ONNX model folder: ${part}/model.onnx is missing`, file);
  }
  return parts.loadSession ? parts.loadSession(part, file, settings) : OnnxModel.load(file, settings);
}

export async function loadSd15Model(
  dir: string,
  settings: SessionSettings = {},
  parts: Sd15ModelParts = {},
): Promise<Sd15Model> {
  const modelDir = path.resolve(dir);
  if (!(await exists(modelDir))) throw new ModelLoadError(`model folder ${modelDir} does not exist`, modelDir);
  const schedulerConfig = await readJson<SchedulerConfig>(path.join(modelDir, 'scheduler', 'scheduler_config.json'));
  const tokenizer = parts.tokenizer ?? (await ClipTokenizer.fromDirectory(path.join(modelDir, 'tokenizer')));
  // Sessions load one after the other: loading them concurrently only multiplies peak memory.
  const textEncoder = await loadPart(modelDir, 'text_encoder', settings, parts);
  const unet = await loadPart(modelDir, 'unet', settings, parts);
  const vaeDecoder = await loadPart(modelDir, 'vae_decoder', settings, parts);
  const vaeEncoder = await loadPart(modelDir, 'vae_encoder', settings, parts, true);
  const safetyChecker = await loadPart(modelDir, 'safety_checker', settings, parts, true);

  for (const [model, names] of [
    [unet, ['sample', 'timestep', 'encoder_hidden_states']],
    [textEncoder, ['input_ids']],
    [vaeDecoder, ['latent_sample']],
  ] as const) {
    for (const name of names) {
      if (!model.hasInput(name)) {
        throw new ModelLoadError(`${model.path} has no input named ${name}; is it a diffusers ONNX export?`, model.path);
      }
    }
  }
  const vaeConfigFile = path.join(parts.partDir?.('vae_decoder') ?? modelDir, 'vae_decoder', 'config.json');
  const vaeConfig = (await exists(vaeConfigFile)) ? await readJson<{ scaling_factor?: number }>(vaeConfigFile) : {};
  const controlnets = new Map<string, ControlNetModel>();
  for (const file of parts.controlnets ?? []) {
    const resolved = path.resolve(file);
    if (!controlnets.has(resolved)) controlnets.set(resolved, await ControlNetModel.load(resolved, settings));
  }
  const unetConfigFile = path.join(modelDir, 'unet', 'config.json');
  const unetConfig = (await exists(unetConfigFile))
    ? await readJson<{ layers_per_block?: number }>(unetConfigFile)
    : {};
  const hiddenStateCount = [...textEncoder.outputs.keys()].filter((n) => /^hidden_states\.\d+$/.test(n)).length;
  const textOutputName = textEncoder.outputs.has('last_hidden_state')
    ? 'last_hidden_state'
    : [...textEncoder.outputs.keys()][0];

  return {
    dir: modelDir,
    tokenizer,
    textEncoder,
    unet,
    vaeDecoder,
    vaeEncoder,
    safetyChecker,
    schedulerConfig,
    vaeScalingFactor: vaeConfig.scaling_factor ?? SD15_VAE_SCALING_FACTOR,
    unetInChannels: await unetInChannels(modelDir, unet),
    textOutputName,
    hiddenStateCount,
    unetResiduals: findUnetResidualInputs(unet),
    unetLayersPerBlock: typeof unetConfig.layers_per_block === 'number' ? unetConfig.layers_per_block : undefined,
    controlnets,
    async dispose() {
      for (const m of [textEncoder, unet, vaeDecoder, vaeEncoder, safetyChecker]) await m?.dispose();
      for (const c of controlnets.values()) await c.dispose();
    },
  };
}
