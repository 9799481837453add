/**
 * The renderer's SD1.5 sessions: models (the bare folder, or with LoRAs, textual inversions and a
 * VAE applied) and ControlNets, cached apart. A request with ControlNets renders on the model's
 * sessions already loaded plus the ControlNets' own: the UNet, text encoder and VAE are never loaded
 * a second time for a ControlNet, and one ControlNet file is loaded once whichever model uses it
 * (its session does not depend on the model). Every session is counted once against the budget.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  assetSetKey,
  loadSd15ModelWithAssets,
  type Sd15AssetReport,
  type Sd15AssetSet,
} from '../assets/sd15-assets.js';
import { ControlNetModel } from '../models/controlnet-model.js';
import type { SessionSettings } from '../models/onnx-session.js';
import { loadSd15Model, type Sd15Model } from '../models/sd15-model.js';
import { memoryProfile } from '../pipelines/sd15/memory-plan.js';

/** A cached SD1.5 model, with what applying its asset set did (absent for the bare model). */
export interface LoadedSd15 {
  model: Sd15Model;
  report?: Sd15AssetReport;
}

export interface SessionCacheLimits {
  /** Models kept at once (and as many ControlNets besides those the newest request uses). */
  maxLoadedModels?: number;
  /** Bytes of weights kept, models and ControlNets together, least recently used released first. */
  modelCacheBytes?: number;
}

/** How many sessions sets this cache has created: a model load is all of a model's sessions. */
export interface SessionLoadCounts {
  models: number;
  controlNets: number;
}

interface Entry<T> {
  value: Promise<T>;
  /** When a request last used it (a counter, shared by both kinds, for least-recently-used order). */
  used: number;
}

/** A model with ControlNets: the model's own sessions, shared, and the ControlNets beside them. */
interface View {
  model: Sd15Model;
  base: Sd15Model;
  controlNets: readonly string[];
}

async function folderBytes(file: string): Promise<number> {
  const dir = path.dirname(file);
  let total = 0;
  for (const name of await readdir(dir)) total += (await stat(path.join(dir, name))).size;
  return total;
}

export class Sd15SessionCache {
  /** Models by asset-set key (ControlNets excluded), least recently used first. */
  readonly models = new Map<string, Entry<LoadedSd15>>();
  /** ControlNets by the resolved path of their `model.onnx` (a worker's asset cache names it by checksum). */
  readonly controlNets = new Map<string, Entry<ControlNetModel>>();
  /** Models with ControlNets, by their full asset-set key; dropped with any session they use. */
  private readonly views = new Map<string, View>();
  private clock = 0;
  private readonly counts: SessionLoadCounts = { models: 0, controlNets: 0 };

  constructor(
    private readonly settings: SessionSettings,
    private readonly limits: SessionCacheLimits,
  ) {}

  get loads(): SessionLoadCounts {
    return { ...this.counts };
  }

  /** Whether using this asset set first has to load sessions. */
  needsLoading(dir: string, assets: Sd15AssetSet = {}): boolean {
    const { modelKey, controlNets } = split(dir, assets);
    return !this.models.has(modelKey) || controlNets.some((file) => !this.controlNets.has(file));
  }

  async get(dir: string, assets: Sd15AssetSet = {}): Promise<LoadedSd15> {
    const { modelKey, modelAssets, controlNets } = split(dir, assets);
    const model = this.use(this.models, modelKey, () => {
      this.counts.models++;
      return modelKey === assetSetKey(dir)
        ? loadSd15Model(dir, this.settings).then((m) => ({ model: m }))
        : loadSd15ModelWithAssets(dir, modelAssets, this.settings);
    });
    // Sessions load one after the other: loading them concurrently only multiplies peak memory.
    let previous: Promise<unknown> = model.value;
    const nets = controlNets.map((file) => {
      const after = previous.catch(() => undefined);
      const entry = this.use(this.controlNets, file, () => {
        this.counts.controlNets++;
        return after.then(() => ControlNetModel.load(file, this.settings));
      });
      previous = entry.value;
      return entry;
    });
    await this.evict(new Set([modelKey]), new Set(controlNets));
    const loaded = await model.value;
    if (controlNets.length === 0) return loaded;
    const netModels = await Promise.all(nets.map((n) => n.value));
    return { ...loaded, model: this.view(assetSetKey(dir, assets), loaded.model, controlNets, netModels) };
  }

  /** The entry under `key`, loaded with `load` when absent; marked most recently used. */
  private use<T>(map: Map<string, Entry<T>>, key: string, load: () => Promise<T>): Entry<T> {
    let entry = map.get(key);
    if (entry)
      map.delete(key); // re-inserted below: most recently used last
    else {
      const value = load();
      entry = { value, used: 0 };
      const mine = entry;
      value.catch(() => {
        if (map.get(key) === mine) map.delete(key);
      });
    }
    entry.used = ++this.clock;
    map.set(key, entry);
    return entry;
  }

  private view(key: string, base: Sd15Model, files: readonly string[], nets: ControlNetModel[]): Sd15Model {
    const cached = this.views.get(key);
    // The same object each time: per-model caches (memory profile, final layer norm) stay warm.
    if (cached && cached.base === base && files.every((f, i) => cached.model.controlnets.get(f) === nets[i])) {
      return cached.model;
    }
    const model: Sd15Model = {
      ...base,
      controlnets: new Map(files.map((f, i) => [f, nets[i]])),
      // The sessions belong to the cache, which releases each when it is evicted.
      dispose: async () => undefined,
    };
    this.views.set(key, { model, base, controlNets: files });
    return model;
  }

  /**
   * Releases the least recently used sessions past the count limit and the byte budget; the
   * newest request's model and ControlNets are always kept.
   */
  private async evict(keepModels: ReadonlySet<string>, keepNets: ReadonlySet<string>): Promise<void> {
    const budget = this.limits.modelCacheBytes;
    const max = this.limits.maxLoadedModels ?? (budget === undefined ? 1 : Number.POSITIVE_INFINITY);
    const oldest = <T>(map: Map<string, Entry<T>>, keep: ReadonlySet<string>) =>
      [...map.entries()].filter(([key]) => !keep.has(key)).sort((a, b) => a[1].used - b[1].used)[0];
    for (let victim = oldest(this.models, keepModels); this.models.size > max && victim;) {
      await this.release(this.models, victim[0]);
      victim = oldest(this.models, keepModels);
    }
    for (let victim = oldest(this.controlNets, keepNets); this.controlNets.size > max && victim;) {
      await this.release(this.controlNets, victim[0]);
      victim = oldest(this.controlNets, keepNets);
    }
    if (budget === undefined) return;
    while ((await this.cachedBytes()) > budget) {
      const model = oldest(this.models, keepModels);
      const net = oldest(this.controlNets, keepNets);
      if (!model && !net) return;
      if (model && (!net || model[1].used < net[1].used)) await this.release(this.models, model[0]);
      else if (net) await this.release(this.controlNets, net[0]);
    }
  }

  private async release<T extends LoadedSd15 | ControlNetModel>(map: Map<string, Entry<T>>, key: string) {
    const entry = map.get(key);
    if (!entry) return;
    map.delete(key);
    const value: LoadedSd15 | ControlNetModel | undefined = await entry.value.catch(() => undefined);
    if (!value) return;
    const sessions = 'model' in value ? value.model : value;
    for (const [viewKey, view] of this.views) {
      if (view.base === sessions || view.model.controlnets.get(key) === sessions) this.views.delete(viewKey);
    }
    await sessions.dispose().catch(() => undefined);
  }

  /** Weights of every cached session, each counted once (a ControlNet shared by models, once). */
  async cachedBytes(): Promise<number> {
    const bytes = (p: Promise<number>) => p.catch(() => 0);
    const sizes = await Promise.all([
      ...[...this.models.values()].map((e) =>
        bytes(e.value.then(({ model }) => memoryProfile(model).then((p) => p.weightsBytes))),
      ),
      ...[...this.controlNets.values()].map((e) => bytes(e.value.then((net) => folderBytes(net.path)))),
    ]);
    return sizes.reduce((a, b) => a + b, 0);
  }

  async dispose(): Promise<void> {
    for (const key of [...this.models.keys()]) await this.release(this.models, key);
    for (const key of [...this.controlNets.keys()]) await this.release(this.controlNets, key);
  }
}

/** The model's part of an asset set (its cache key and assets) and its ControlNets, resolved, sorted, once each. */
function split(dir: string, assets: Sd15AssetSet) {
  const { controlnets = [], ...modelAssets } = assets;
  return {
    modelKey: assetSetKey(dir, modelAssets),
    modelAssets,
    controlNets: [...new Set(controlnets.map((file) => path.resolve(file)))].sort(),
  };
}
