/**
 * A request's asset names, resolved at intake to what a worker fetches (`JobAssets`): the caller's
 * own uploads by name, `library:<name>` from the operator's folder. A name that is missing, of
 * the wrong type, or another tenant's (which is the same as missing) is a 422 naming the field
 * and the asset, before anything is queued. One resolver per `Intake`, so a batch looks each name
 * up once.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import {
  ASSET_FIELD,
  KilnError,
  LIBRARY_PREFIX,
  MODEL_CONTROLNET_FOLDER,
  MODEL_CONTROLNET_PREFIX,
  type AssetType,
  type JobAssets,
  type ResolvedAsset,
  type ValidationErrorDetail,
} from '@kiln/contracts';
import { AssetStore } from '@kiln/state';
import type { KilnConfig } from '@kiln/config';
import type { RedisClient } from '@kiln/queue';
import { sharedAssetLibrary } from './asset-library.js';

/** The SD1.5 request fields that name assets. */
export interface AssetFields {
  checkpoint?: string;
  vae?: string;
  loras?: Record<string, number>;
  textual_inversions?: Record<string, string>;
  controlnet?: string | string[];
}

type Found = { type: AssetType; resolved: (type: AssetType) => ResolvedAsset } | undefined;

/** A model folder name under KILN_MODELS_DIR (what `checkpoint` named before the asset library). */
const MODEL_FOLDER = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export class AssetResolver {
  private readonly lookups = new Map<string, Promise<Found>>();
  private readonly store: AssetStore;

  constructor(
    private readonly deps: { redis: RedisClient; config: Readonly<KilnConfig> },
    private readonly tenant: string,
  ) {
    this.store = new AssetStore(deps.redis, deps.config.queuePrefix);
  }

  /** The job's assets, or undefined when the request names none; throws a 422 listing every bad name. */
  async resolve(fields: AssetFields): Promise<JobAssets | undefined> {
    const problems: ValidationErrorDetail[] = [];
    const one = async (type: AssetType, name: string, loc: (string | number)[]) => {
      const found = await this.lookup(name, type);
      if (found?.type === type) return found.resolved(type);
      const msg = found
        ? `${name} is a ${found.type} asset, not a ${type}`
        : `no ${type} asset named ${name}` +
          (name.startsWith(LIBRARY_PREFIX) ? ' in the shared library' : ' (upload it with POST /v1/assets)');
      problems.push({ loc: ['body', ...loc], msg, type: 'value_error' });
      return undefined;
    };
    const assets: JobAssets = {};
    if (fields.checkpoint !== undefined) {
      // The caller's own checkpoint (or library:), else a model folder of KILN_MODELS_DIR as before.
      const name = fields.checkpoint;
      const own = name.startsWith(LIBRARY_PREFIX) ? undefined : await this.lookup(name, 'checkpoint');
      if (name.startsWith(LIBRARY_PREFIX) || own?.type === 'checkpoint') {
        const checkpoint = await one('checkpoint', name, ['checkpoint']);
        if (checkpoint) assets.checkpoint = checkpoint;
      } else if (!(await this.modelFolder(name))) {
        const msg = own
          ? `${name} is a ${own.type} asset, not a checkpoint`
          : `no checkpoint named ${name} (an uploaded checkpoint, a folder of KILN_MODELS_DIR, or library:<name>)`;
        problems.push({ loc: ['body', 'checkpoint'], msg, type: 'value_error' });
      }
    }
    if (fields.vae !== undefined) {
      const vae = await one('vae', fields.vae, ['vae']);
      if (vae) assets.vae = vae;
    }
    const loras = Object.entries(fields.loras ?? {});
    if (loras.length > 0) {
      const resolved = await Promise.all(loras.map(([name]) => one('lora', name, [ASSET_FIELD.lora, name])));
      assets.loras = loras.flatMap(([, weight], i) => (resolved[i] ? [{ asset: resolved[i], weight }] : []));
    }
    const inversions = Object.entries(fields.textual_inversions ?? {});
    if (inversions.length > 0) {
      const field = ASSET_FIELD.textual_inversion;
      const resolved = await Promise.all(inversions.map(([name]) => one('textual_inversion', name, [field, name])));
      assets.textual_inversions = inversions.flatMap(([, trigger], i) =>
        resolved[i] ? [{ asset: resolved[i], trigger }] : [],
      );
    }
    const controlnets = fields.controlnet === undefined ? [] : [fields.controlnet].flat();
    for (const [i, name] of controlnets.entries()) {
      const loc = Array.isArray(fields.controlnet) ? ['controlnet', i] : ['controlnet'];
      if (name.startsWith(MODEL_CONTROLNET_PREFIX)) {
        const problem = await this.modelControlNetProblem(name, fields.checkpoint);
        if (problem) problems.push({ loc: ['body', ...loc], msg: problem, type: 'value_error' });
        continue;
      }
      const controlnet = await one('controlnet', name, loc);
      if (controlnet) assets.controlnets = { ...assets.controlnets, [name]: controlnet };
    }
    if (problems.length > 0) throw new KilnError('invalid_request', problems[0].msg, { validation: problems });
    return Object.keys(assets).length > 0 ? assets : undefined;
  }

  /** What `name` is, looked up once per resolver (and wanted type: a library name may be several kinds). */
  private lookup(name: string, wanted: AssetType): Promise<Found> {
    const key = name.startsWith(LIBRARY_PREFIX) ? `${wanted}:${name}` : name;
    let found = this.lookups.get(key);
    if (!found) this.lookups.set(key, (found = this.find(name, wanted)));
    return found;
  }

  private async find(name: string, wanted: AssetType): Promise<Found> {
    if (name.startsWith(LIBRARY_PREFIX)) {
      const library = sharedAssetLibrary(this.deps.config.assetsDir);
      const entry = await library.find(name.slice(LIBRARY_PREFIX.length), wanted);
      if (!entry) return undefined;
      return { type: entry.type, resolved: (type) => ({ source: 'library', name, type, path: entry.path }) };
    }
    const record = await this.store.get(this.tenant, name);
    if (!record) return undefined;
    const { key, sha256, size } = record;
    return { type: record.type, resolved: (type) => ({ source: 'upload', name, type, key, sha256, size }) };
  }

  /**
   * Why `model:<folder>` names no ControlNet of the model the request renders with, or undefined.
   * An uploaded or library checkpoint is only unpacked on workers: its folder is checked there.
   */
  private async modelControlNetProblem(name: string, checkpoint: string | undefined): Promise<string | undefined> {
    const folder = name.slice(MODEL_CONTROLNET_PREFIX.length);
    if (!MODEL_CONTROLNET_FOLDER.test(folder)) {
      return `${name}: a ControlNet inside the model folder is named model:controlnet (or model:controlnet<suffix>)`;
    }
    const model = checkpoint ?? this.deps.config.sd15Model;
    if (!(await this.modelFolder(model))) return undefined;
    const found = await stat(path.join(this.deps.config.modelsDir, model, folder, 'model.onnx')).then(
      () => true,
      () => false,
    );
    return found ? undefined : `the model ${model} has no ControlNet ${folder}/model.onnx (named by ${name})`;
  }

  private async modelFolder(name: string): Promise<boolean> {
    if (!MODEL_FOLDER.test(name)) return false;
    return stat(path.join(this.deps.config.modelsDir, name, 'model_index.json')).then(
      () => true,
      () => false,
    );
  }
}
