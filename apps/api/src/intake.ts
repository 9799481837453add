/**
 * The one intake path of a generation request, used by `POST /generate/sd|sd3` and by every batch
 * item: validate → check what needs the server (model installed, webhook deliverable) → store the
 * input images → resolve the seeds → the job. One `Intake` per caller and request (a batch keeps
 * one for all its items, so a model or webhook URL is checked once per batch).
 */
import { randomInt } from 'node:crypto';
import {
  controlNetImages,
  JOB_IMAGE_FIELDS,
  KilnError,
  parseGenerateRequest,
  resolveSeeds,
  toJobRequest,
  type GenerateRequest,
  type JobAssets,
  type JobInputs,
  type ModelFamily,
  type RenderJobData,
} from '@kiln/contracts';
import { inputKey } from '@kiln/storage';
import { AssetResolver } from './asset-resolve.js';
import type { Caller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { checkBase64Image } from './image-input.js';
import { assertWebhookTarget } from './webhook-target.js';

const FAMILY_LABEL: Record<ModelFamily, string> = { sd15: 'SD1.5', sd3: 'SD3' };

/** Where a job comes from, besides its request. */
export interface JobOrigin {
  jobId: string;
  /** Base of the links in webhook payloads. */
  baseUrl: string;
  batchId?: string;
  fairTag?: number;
}

export class Intake {
  private readonly families = new Map<ModelFamily, Promise<boolean>>();
  private readonly webhookChecks = new Map<string, Promise<void>>();
  private readonly assets: AssetResolver;
  /** Each validated request's resolved assets, for {@link toJob}. */
  private readonly resolved = new WeakMap<GenerateRequest, JobAssets>();

  constructor(
    private readonly deps: Pick<ApiDeps, 'config' | 'models' | 'secrets' | 'store' | 'redis' | 'memory'>,
    private readonly caller: Caller,
  ) {
    this.assets = new AssetResolver(deps, caller.tenant);
  }

  /**
   * A request body, validated: 422 (`invalid_request` with FastAPI's `detail` list) when it breaks
   * a rule, 503 `model_unavailable` when no model of its family is installed, 422 naming `width`
   * when it fits no live worker's memory budget (memory-admission.ts), 422 naming
   * `webhook_url` when Kiln could not deliver to it, 422 naming the field and the asset when an
   * asset it names is missing (or another tenant's) or of the wrong type.
   */
  async validate(family: ModelFamily, body: unknown): Promise<GenerateRequest> {
    const parsed = parseGenerateRequest(family, body, { allowAnyResolution: this.deps.config.allowAnyResolution });
    if (!parsed.success) {
      throw new KilnError('invalid_request', parsed.body.error.message, { validation: parsed.body.detail });
    }
    if (!(await this.available(family))) {
      throw new KilnError('model_unavailable', `no ${FAMILY_LABEL[family]} model is configured on this server`, {
        retryAfterSeconds: 60,
      });
    }
    await this.deps.memory.assertFits(parsed.data);
    if (parsed.data.webhook_url !== undefined) await this.checkWebhook(parsed.data.webhook_url);
    if (parsed.data.family === 'sd15') {
      const assets = await this.assets.resolve(parsed.data);
      if (assets) this.resolved.set(parsed.data, assets);
    }
    return parsed.data;
  }

  /** The job of a validated request: its input images stored (jobs carry keys, never bytes), its seeds resolved. */
  async toJob(request: GenerateRequest, origin: JobOrigin): Promise<RenderJobData> {
    const inputs: JobInputs = {};
    for (const field of JOB_IMAGE_FIELDS) {
      const value = request[field];
      if (value === undefined) continue;
      const image = checkBase64Image(field, value, this.deps.config.maxImagePixels);
      const key = inputKey(origin.jobId, field);
      await this.deps.store.put(key, image.bytes);
      inputs[field] = key;
    }
    // One conditioning image per ControlNet, in the request's order.
    const controlImages = controlNetImages(request);
    for (const [i, value] of controlImages.entries()) {
      const field =
        controlImages.length > 1 || Array.isArray(request.controlnet_image)
          ? `controlnet_image.${i}`
          : 'controlnet_image';
      const image = checkBase64Image(field, value, this.deps.config.maxImagePixels);
      const key = inputKey(origin.jobId, `controlnet_image_${i}`);
      await this.deps.store.put(key, image.bytes);
      inputs.controlnet_images = [...(inputs.controlnet_images ?? []), key];
    }
    // Assigned field by field rather than spread into one literal (CONTRIBUTING.md, Performance).
    const job: RenderJobData = Object.assign(toJobRequest(request), {
      seeds: resolveSeeds(request.seed, request.num_images, () => randomInt(0, 2 ** 32)),
      inputs,
      tenant: this.caller.tenant,
      keyId: this.caller.keyId,
      submittedAt: Date.now(),
      baseUrl: origin.baseUrl,
    });
    if (request.webhook_url !== undefined) {
      job.webhook = { url: request.webhook_url, events: request.webhook_events ?? ['completed'] };
    }
    if (request.custom_id !== undefined) job.customId = request.custom_id;
    if (origin.batchId !== undefined) job.batchId = origin.batchId;
    if (origin.fairTag !== undefined) job.fairTag = origin.fairTag;
    const assets = this.resolved.get(request);
    if (assets && job.family === 'sd15') job.assets = assets;
    return job;
  }

  private available(family: ModelFamily): Promise<boolean> {
    let known = this.families.get(family);
    if (!known) this.families.set(family, (known = this.deps.models.isAvailable(family)));
    return known;
  }

  /** One check (DNS included) per distinct URL. */
  private checkWebhook(url: string): Promise<void> {
    let known = this.webhookChecks.get(url);
    if (!known) this.webhookChecks.set(url, (known = assertWebhookTarget(this.deps, this.caller, url)));
    return known;
  }
}
