/**
 * Executes render requests against cached model sessions. Sessions are created on first use of a
 * model and reused by every later job; the cache key is the model folder and the applied assets
 * (VAE, LoRAs with weights, textual inversions), so a second job with the same asset set pays no
 * merge time. Requests are routed by model family; SD3 models have a cache of their own that holds
 * one model at most.
 */
import { resolve } from 'node:path';
import type { ModelMemoryProfile } from '@kiln/memory';
import {
  assetSetKey,
  loadSd15ModelWithAssets,
  type Sd15AssetReport,
  type Sd15AssetSet,
} from '../assets/sd15-assets.js';
import { loadSd15Model, type Sd15Model } from '../models/sd15-model.js';
import { loadSd3Model, type Sd3Model } from '../models/sd3-model.js';
import type { SessionSettings } from '../models/onnx-session.js';
import { checkImages } from '../models/safety-checker.js';
import { memoryProfile } from '../pipelines/sd15/memory-plan.js';
import type { RenderHooks, RenderResult } from '../pipelines/sd15/render-types.js';
import { decodeRenderInputs, renderSd15, type Sd15RenderRequest } from './sd15-request.js';
import { decodeSd3RenderInputs, renderSd3, type Sd3RenderRequest } from './sd3-request.js';

/** A model folder with a `safety_checker/` has every image checked before it leaves the core. */
async function withSafetyCheck(model: Sd15Model, result: RenderResult): Promise<RenderResult> {
  if (!model.safetyChecker) return result;
  return { ...result, images: await checkImages(model.safetyChecker, result.images) };
}

/** The request's asset set with its ControlNets: they load (and are cached) with the model's sessions. */
function withControlNets(
  assets: Sd15AssetSet | undefined,
  controls: readonly { model: string }[],
): Sd15AssetSet | undefined {
  if (controls.length === 0) return assets;
  return { ...assets, controlnets: [...new Set(controls.map((c) => resolve(c.model)))] };
}

export type { Sd15RenderParams, Sd15RenderRequest, ImageInput } from './sd15-request.js';

export type { Sd3RenderParams, Sd3RenderRequest } from './sd3-request.js';

export type RenderRequest = (Sd15RenderRequest & { assets?: Sd15AssetSet }) | Sd3RenderRequest;
export type ModelFamily = RenderRequest['family'];

export interface RendererOptions extends SessionSettings {
  /** How many SD1.5 models stay loaded at once (least recently used is released first). */
  maxLoadedModels?: number;
  /**
   * With it, SD1.5 models (each asset set is its own) stay loaded while their weights together fit
   * this many bytes, least recently used released first, the newest always kept; `maxLoadedModels`
   * then defaults to no count limit.
   */
  modelCacheBytes?: number;
  /** false: SD3 models run without their T5 encoder even when it is installed (zeros in its place; saves ~19 GB fp32). */
  sd3LoadT5?: boolean;
}

/** A cached SD1.5 model, with what applying its asset set did (absent for the bare model). */
interface LoadedSd15 {
  model: Sd15Model;
  report?: Sd15AssetReport;
}

export class Renderer {
  private readonly models = new Map<string, Promise<LoadedSd15>>();
  /** SD3's sessions are many gigabytes (the transformer, T5): one SD3 model is resident at most. */
  private sd3: { dir: string; model: Promise<Sd3Model> } | undefined;

  constructor(private readonly options: RendererOptions = {}) {}

  /** Whether rendering with this asset set first has to load and merge it. */
  private needsLoading(dir: string, assets: Sd15AssetSet = {}): boolean {
    return !this.models.has(assetSetKey(dir, assets));
  }

  private async model(dir: string, assets: Sd15AssetSet = {}): Promise<LoadedSd15> {
    const key = assetSetKey(dir, assets);
    let entry = this.models.get(key);
    if (entry) {
      this.models.delete(key); // re-insert: most recently used last
      this.models.set(key, entry);
      return entry;
    }
    entry =
      key === assetSetKey(dir)
        ? loadSd15Model(dir, this.options).then((model) => ({ model }))
        : loadSd15ModelWithAssets(dir, assets, this.options);
    this.models.set(key, entry);
    entry.catch(() => this.models.delete(key));
    await this.evict();
    return entry;
  }

  private async evict(): Promise<void> {
    const budget = this.options.modelCacheBytes;
    const max = this.options.maxLoadedModels ?? (budget === undefined ? 1 : Number.POSITIVE_INFINITY);
    while (
      this.models.size > 1 &&
      (this.models.size > max || (budget !== undefined && (await this.cachedBytes()) > budget))
    ) {
      const [oldest, entry] = this.models.entries().next().value as [string, Promise<LoadedSd15>];
      this.models.delete(oldest);
      await entry.then(({ model }) => model.dispose()).catch(() => undefined);
    }
  }

  /** The weights of every loaded SD1.5 model, as the memory estimate counts them. */
  private async cachedBytes(): Promise<number> {
    const loaded = await Promise.all(
      [...this.models.values()].map((entry) =>
        entry
          .then(({ model }) => memoryProfile(model))
          .then(
            (p) => p.weightsBytes,
            () => 0,
          ),
      ),
    );
    return loaded.reduce((a, b) => a + b, 0);
  }

  private async sd3Model(dir: string): Promise<Sd3Model> {
    if (this.sd3?.dir === dir) return this.sd3.model;
    const previous = this.sd3?.model;
    this.sd3 = undefined;
    // Release the previous SD3 model before loading the next: two would not fit where one barely does.
    await previous?.then((m) => m.dispose()).catch(() => undefined);
    const model = loadSd3Model(dir, this.options, { loadT5: this.options.sd3LoadT5 });
    const entry = { dir, model };
    this.sd3 = entry;
    model.catch(() => {
      if (this.sd3 === entry) this.sd3 = undefined;
    });
    return model;
  }

  /**
   * Loads a model ahead of the first job, so the first request does not pay for session creation.
   * An SD1.5 model's memory profile comes back, for the worker to publish with its budget.
   */
  async warm(dir: string, family: ModelFamily = 'sd15'): Promise<ModelMemoryProfile | undefined> {
    if (family === 'sd3') {
      await this.sd3Model(dir);
      return undefined;
    }
    const { model } = await this.model(dir);
    return memoryProfile(model);
  }

  async render(request: RenderRequest, hooks: RenderHooks = {}): Promise<RenderResult> {
    if (request.family === 'sd3') {
      const params = await decodeSd3RenderInputs(request.params);
      return renderSd3(await this.sd3Model(request.modelDir), params, hooks);
    }
    // Images first: a bad image fails fast, naming its field, without loading a model.
    const params = await decodeRenderInputs(request.params);
    const assets = withControlNets(request.assets, params.controlnets ?? []);
    const loading = performance.now();
    if (assets && this.needsLoading(request.modelDir, assets)) hooks.onStage?.('loading_assets');
    const { model, report } = await this.model(request.modelDir, assets);
    const loadMs = performance.now() - loading;
    const result = await withSafetyCheck(model, await renderSd15(model, params, hooks));
    // What the assets did goes back with the images: unmatched LoRA keys are reported, never dropped.
    return report ? { ...result, assets: { ...report, loadMs } } : result;
  }

  async dispose(): Promise<void> {
    const entries: Promise<{ dispose(): Promise<void> }>[] = [...this.models.values()].map((e) =>
      e.then((l) => l.model),
    );
    if (this.sd3) entries.push(this.sd3.model);
    this.models.clear();
    this.sd3 = undefined;
    for (const e of entries) await e.then((m) => m.dispose()).catch(() => undefined);
  }
}
