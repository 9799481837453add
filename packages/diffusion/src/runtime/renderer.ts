/**
 * Executes render requests against cached model sessions. Sessions are created on first use of a
 * model and reused by every later job; the cache key is the model folder today and will include
 * the applied assets (LoRA, textual inversion, VAE) when those arrive.
 */
import { loadSd15Model, type Sd15Model } from '../models/sd15-model.js';
import type { SessionSettings } from '../models/onnx-session.js';
import { checkImages } from '../models/safety-checker.js';
import type { RenderHooks, RenderResult } from '../pipelines/sd15/render-types.js';
import { decodeRenderInputs, renderSd15, type Sd15RenderRequest } from './sd15-request.js';

/** A model folder with a `safety_checker/` has every image checked before it leaves the core. */
async function withSafetyCheck(model: Sd15Model, result: RenderResult): Promise<RenderResult> {
  if (!model.safetyChecker) return result;
  return { ...result, images: await checkImages(model.safetyChecker, result.images) };
}

export type { Sd15RenderParams, Sd15RenderRequest, ImageInput } from './sd15-request.js';

export type RenderRequest = Sd15RenderRequest;

export interface RendererOptions extends SessionSettings {
  /** How many models stay loaded at once (least recently used is released first). */
  maxLoadedModels?: number;
}

export class Renderer {
  private readonly models = new Map<string, Promise<Sd15Model>>();

  constructor(private readonly options: RendererOptions = {}) {}

  private async model(dir: string): Promise<Sd15Model> {
    let entry = this.models.get(dir);
    if (entry) {
      this.models.delete(dir); // re-insert: most recently used last
      this.models.set(dir, entry);
      return entry;
    }
    entry = loadSd15Model(dir, this.options);
    this.models.set(dir, entry);
    entry.catch(() => this.models.delete(dir));
    await this.evict();
    return entry;
  }

  private async evict(): Promise<void> {
    const max = this.options.maxLoadedModels ?? 1;
    while (this.models.size > max) {
      const [oldest, entry] = this.models.entries().next().value as [string, Promise<Sd15Model>];
      this.models.delete(oldest);
      await entry.then((m) => m.dispose()).catch(() => undefined);
    }
  }

  /** Loads a model ahead of the first job, so the first request does not pay for session creation. */
  async warm(dir: string): Promise<void> {
    await this.model(dir);
  }

  async render(request: RenderRequest, hooks: RenderHooks = {}): Promise<RenderResult> {
    // Images first: a bad image fails fast, naming its field, without loading a model.
    const params = await decodeRenderInputs(request.params);
    const model = await this.model(request.modelDir);
    const result = await renderSd15(model, params, hooks);
    return withSafetyCheck(model, result);
  }

  async dispose(): Promise<void> {
    const entries = [...this.models.values()];
    this.models.clear();
    for (const e of entries) await e.then((m) => m.dispose()).catch(() => undefined);
  }
}
