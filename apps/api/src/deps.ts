import type { KilnConfig, Logger } from '@kiln/config';
import type { ModelFamily } from '@kiln/contracts';
import type { RenderQueue } from '@kiln/queue';
import type { FileStore } from '@kiln/storage';
import type { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { KeyRing } from './auth.js';
import type { Notifications } from './notifications.js';

/** Everything the API's routes use; `createApp(deps)` never opens connections itself. */
export interface ApiDeps {
  config: Readonly<KilnConfig>;
  logger: Logger;
  redis: Redis;
  queue: RenderQueue;
  queueEvents: QueueEvents;
  store: FileStore;
  keys: KeyRing | undefined;
  models: ModelCatalog;
  /** Batches, fair-share clock, webhook secrets and notifier (notifications.ts). */
  notifications: Notifications;
}

/** Which model families this deployment can serve: a model folder is installed for them. */
export class ModelCatalog {
  constructor(private readonly config: Readonly<KilnConfig>) {}

  async isAvailable(family: ModelFamily): Promise<boolean> {
    const name = family === 'sd3' ? this.config.sd3Model : this.config.sd15Model;
    if (!name) return false;
    return stat(path.join(this.config.modelsDir, name, 'model_index.json')).then(
      () => true,
      () => false,
    );
  }
}
