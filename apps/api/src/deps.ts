import type { KilnConfig, Logger } from '@kiln/config';
import type { ModelFamily } from '@kiln/contracts';
import type { JobServices } from '@kiln/jobs';
import type { RenderQueue } from '@kiln/queue';
import type { BlobStore } from '@kiln/storage';
import type { WebhookSecrets } from '@kiln/webhooks';
import type { QueueEvents } from 'bullmq';
import type { RedisClient } from '@kiln/queue';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { KeyRing } from './auth.js';
import type { MemoryAdmission } from './memory-admission.js';

/** Everything the API's routes use; `createApp(deps)` never opens connections itself. */
export interface ApiDeps {
  config: Readonly<KilnConfig>;
  logger: Logger;
  redis: RedisClient;
  /** The render queue (`jobs.queue`): where routes look jobs up. */
  queue: RenderQueue;
  queueEvents: QueueEvents;
  store: BlobStore;
  keys: KeyRing | undefined;
  models: ModelCatalog;
  /** Batches, fair-share clock, webhook queue and the job lifecycle, shared with the workers. */
  jobs: JobServices;
  /** Webhook signing secrets: a `webhook_url` that could never be signed is refused at submit. */
  secrets: WebhookSecrets;
  /** Refuses what fits no live worker's memory budget. */
  memory: MemoryAdmission;
}

/**
 * Which model families this deployment can serve: a model folder is installed for them. The answer
 * is kept for a second: a `stat` per request was 7% of the API's CPU under load (docs/benchmarks.md),
 * and a model installed while Kiln runs is still seen within a second.
 */
export class ModelCatalog {
  private readonly known = new Map<ModelFamily, { at: number; available: Promise<boolean> }>();

  constructor(
    private readonly config: Readonly<KilnConfig>,
    private readonly ttlMs = 1000,
  ) {}

  isAvailable(family: ModelFamily): Promise<boolean> {
    const name = family === 'sd3' ? this.config.sd3Model : this.config.sd15Model;
    if (!name) return Promise.resolve(false);
    const now = performance.now();
    const cached = this.known.get(family);
    if (cached && now - cached.at < this.ttlMs) return cached.available;
    const available = stat(path.join(this.config.modelsDir, name, 'model_index.json')).then(
      () => true,
      () => false,
    );
    this.known.set(family, { at: now, available });
    return available;
  }
}
