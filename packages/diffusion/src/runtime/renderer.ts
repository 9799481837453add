/**
 * Executes render requests against cached model sessions. Sessions are created on first use of a
 * model and reused by every later job; the cache key is the model folder and the applied assets
 * (VAE, LoRAs with weights, textual inversions), so a second job with the same asset set pays no
 * merge time. ControlNets are cached apart and render on the model's sessions already loaded. Requests are routed by model family; SD3 models have a cache of their own that holds
 * one model at most.
 */
import { resolve } from 'node:path';
import type { ModelMemoryProfile } from '@kiln/memory';
import type { Sd15AssetReport, Sd15AssetSet } from '../assets/sd15-assets.js';
import type { Sd15Model } from '../models/sd15-model.js';
import { loadSd3Model, type Sd3Model } from '../models/sd3-model.js';
import type { ExecutionProvider, SessionSettings } from '../models/onnx-session.js';
import { resolvedProvider } from '../models/execution-provider.js';
import { checkImages } from '../models/safety-checker.js';
import { memoryProfile } from '../pipelines/sd15/memory-plan.js';
import type { RenderHooks, RenderResult } from '../pipelines/sd15/render-types.js';
import { decodeRenderInputs, renderSd15, type Sd15RenderRequest } from './sd15-request.js';
import { decodeSd3RenderInputs, renderSd3, type Sd3RenderRequest } from './sd3-request.js';
import { Sd15SessionCache, type SessionLoadCounts } from './sd15-session-cache.js';

/** A model folder with a `safety_checker/` has every image checked before it leaves the core. */
async function withSafetyCheck(model: Sd15Model, result: RenderResult): Promise<RenderResult> {
  if (!model.safetyChecker) return result;
  return { ...result, images: await checkImages(model.safetyChecker, result.images) };
}

/** The request's asset set with its ControlNets: they load beside the model's sessions (sd15-session-cache.ts). */
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
  /**
   * How many SD1.5 models stay loaded at once (least recently used is released first); as many
   * ControlNets stay loaded besides those the newest request uses.
   */
  maxLoadedModels?: number;
  /**
   * With it, SD1.5 models (each asset set is its own) and ControlNets stay loaded while their
   * weights together fit this many bytes, each session counted once (a ControlNet renders on the
   * model's sessions), least recently used released first, the newest request's always kept;
   * `maxLoadedModels` then defaults to no count limit.
   */
  modelCacheBytes?: number;
  /** false: SD3 models run without their T5 encoder even when it is installed (zeros in its place; saves ~19 GB fp32). */
  sd3LoadT5?: boolean;
}

/** What an asset set that merges nothing (ControlNets only) reports. */
const NO_MERGES: Sd15AssetReport = { mergedLoraLayers: 0, unmatchedLoraKeys: [], addedTokens: {}, patchMs: 0 };

export class Renderer {
  private readonly sd15: Sd15SessionCache;
  /** SD3's sessions are many gigabytes (the transformer, T5): one SD3 model is resident at most. */
  private sd3: { dir: string; model: Promise<Sd3Model> } | undefined;

  constructor(private readonly options: RendererOptions = {}) {
    this.sd15 = new Sd15SessionCache(options, options);
  }

  /** The SD1.5 models loaded, by asset-set key (ControlNets apart), least recently used first. */
  private get models(): ReadonlyMap<string, unknown> {
    return this.sd15.models;
  }

  /** The provider its sessions run on: `auto` resolved once a session has loaded (`auto` until then). */
  get executionProvider(): ExecutionProvider {
    return resolvedProvider(this.options.executionProvider ?? 'cpu');
  }

  /** How many SD1.5 models and ControlNets this renderer has loaded so far (reloads after eviction included). */
  get sessionLoads(): SessionLoadCounts {
    return this.sd15.loads;
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
    const { model } = await this.sd15.get(dir);
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
    if (assets && this.sd15.needsLoading(request.modelDir, assets)) hooks.onStage?.('loading_assets');
    const loaded = await this.sd15.get(request.modelDir, assets);
    const { model } = loaded;
    // ControlNets on the bare model are assets too: the job reports their load time.
    const report = loaded.report ?? (assets ? NO_MERGES : undefined);
    const loadMs = performance.now() - loading;
    const result = await withSafetyCheck(model, await renderSd15(model, params, hooks));
    // What the assets did goes back with the images: unmatched LoRA keys are reported, never dropped.
    return report ? { ...result, assets: { ...report, loadMs } } : result;
  }

  async dispose(): Promise<void> {
    const sd3 = this.sd3?.model;
    this.sd3 = undefined;
    await this.sd15.dispose();
    await sd3?.then((m) => m.dispose()).catch(() => undefined);
  }
}
