/**
 * An SD1.5 model with an asset set applied: LoRAs merged into the UNet and text encoder,
 * textual-inversion tokens added, the VAE swapped. The model folder is never modified; only the
 * changed tensors are held in memory (see models/patched-model.ts).
 */
import { access, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { loadPatchedModel } from '../models/patched-model.js';
import { loadSd15Model, type Sd15Model } from '../models/sd15-model.js';
import { OnnxModel, type SessionSettings } from '../models/onnx-session.js';
import { AssetError } from './asset-error.js';
import { parseEmbedding } from './embedding-file.js';
import { parseLora, type LoraComponent } from './lora-file.js';
import { mergeLoras, type UnmatchedLoraKey } from './lora-merge.js';
import { openComponent, type InitializerPatches, type ModelComponent } from './model-component.js';
import { parseSafetensors } from './safetensors.js';
import { applyTextualInversions } from './textual-inversion.js';

export interface Sd15AssetSet {
  /** LoRA safetensors files and their weights, merged in this order. */
  loras?: ReadonlyArray<{ file: string; weight: number }>;
  /** Embedding files (.pt or .safetensors) and their trigger words (default: the file's own token). */
  textualInversions?: ReadonlyArray<{ file: string; trigger?: string }>;
  /** A folder with `vae_decoder/model.onnx` (and optionally `vae_encoder/model.onnx`) to use instead of the model's. */
  vae?: string;
  /** ControlNet `model.onnx` files loaded beside the model (docs/controlnet.md). */
  controlnets?: readonly string[];
}

export interface Sd15AssetReport {
  mergedLoraLayers: number;
  /** LoRA keys that changed nothing; the caller reports them with the job. */
  unmatchedLoraKeys: UnmatchedLoraKey[];
  /** Textual-inversion token → id. */
  addedTokens: Record<string, number>;
  /** Time spent reading assets and computing patched weights, before any session is created. */
  patchMs: number;
}

export async function loadSd15ModelWithAssets(
  dir: string,
  assets: Sd15AssetSet,
  settings: SessionSettings = {},
): Promise<{ model: Sd15Model; report: Sd15AssetReport }> {
  const started = performance.now();
  const modelDir = resolve(dir);
  const loras = assets.loras ?? [];
  const embeddings = assets.textualInversions ?? [];
  const components: Partial<Record<LoraComponent, ModelComponent>> = {};
  if (loras.length > 0 || embeddings.length > 0) {
    components.text_encoder = await openComponent(join(modelDir, 'text_encoder', 'model.onnx'));
  }
  if (loras.length > 0) components.unet = await openComponent(join(modelDir, 'unet', 'model.onnx'));

  const applications = await Promise.all(
    loras.map(async ({ file, weight }) => {
      const name = basename(file);
      return { lora: parseLora(parseSafetensors(await readFile(file), name), name), weight };
    }),
  );
  const merged = await mergeLoras(components, applications);
  const patches: Partial<Record<LoraComponent, InitializerPatches>> = merged.patches;

  let tokenizer;
  let addedTokens = new Map<string, number>();
  if (embeddings.length > 0) {
    const inversions = await Promise.all(
      embeddings.map(async ({ file, trigger }) => ({
        embedding: parseEmbedding(await readFile(file), basename(file)),
        trigger,
      })),
    );
    const result = await applyTextualInversions(
      join(modelDir, 'tokenizer'),
      components.text_encoder as ModelComponent,
      inversions,
    );
    tokenizer = result.tokenizer;
    addedTokens = result.addedTokens;
    patches.text_encoder = new Map([...(patches.text_encoder ?? []), ...result.patches]);
  }
  const vaeDir = assets.vae === undefined ? undefined : await vaeFolder(assets.vae);
  const patchMs = performance.now() - started;

  const model = await loadSd15Model(modelDir, settings, {
    tokenizer,
    controlnets: assets.controlnets,
    partDir: (part) => (part === 'vae_decoder' || part === 'vae_encoder' ? vaeDir?.[part] : undefined),
    loadSession: (part, file, partSettings) => {
      const component = components[part as LoraComponent];
      const partPatches = patches[part as LoraComponent];
      return component && partPatches
        ? loadPatchedModel(file, component.model, partPatches, partSettings)
        : OnnxModel.load(file, partSettings);
    },
  });
  return {
    model,
    report: {
      mergedLoraLayers: merged.mergedLayers,
      unmatchedLoraKeys: merged.unmatched,
      addedTokens: Object.fromEntries(addedTokens),
      patchMs,
    },
  };
}

/**
 * The session-cache key of a model with an asset set: equal keys give identical sessions, so jobs
 * sharing a combination share its sessions and pay the merge once. Files are keyed by path: the
 * asset library is expected to store each upload under a name whose content never changes.
 */
export function assetSetKey(dir: string, assets: Sd15AssetSet = {}): string {
  const loras = (assets.loras ?? []).map(({ file, weight }) => [resolve(file), weight]);
  const inversions = (assets.textualInversions ?? []).map(({ file, trigger }) => [resolve(file), trigger ?? null]);
  const vae = assets.vae === undefined ? null : resolve(assets.vae);
  // Loading order does not change a ControlNet's session: the set is keyed sorted and without repeats.
  const controlnets = [...new Set((assets.controlnets ?? []).map((file) => resolve(file)))].sort();
  if (loras.length === 0 && inversions.length === 0 && vae === null && controlnets.length === 0) return resolve(dir);
  return JSON.stringify({
    model: resolve(dir),
    vae,
    loras,
    inversions,
    ...(controlnets.length > 0 && { controlnets }),
  });
}

/** The VAE parts a folder provides: the decoder is required, the encoder optional (the model's stays). */
async function vaeFolder(dir: string): Promise<Partial<Record<'vae_decoder' | 'vae_encoder', string>>> {
  const folder = resolve(dir);
  const has = (part: string) =>
    access(join(folder, part, 'model.onnx')).then(
      () => true,
      () => false,
    );
  if (!(await has('vae_decoder'))) throw new AssetError('invalid_model', 'has no vae_decoder/model.onnx', dir);
  return { vae_decoder: folder, ...((await has('vae_encoder')) ? { vae_encoder: folder } : {}) };
}
