/**
 * The worker's side of memory admission: once its SD1.5 model is loaded it publishes its memory
 * budget and the model's memory profile (@kiln/state worker-capacity), refreshes them while it
 * runs and withdraws them when it stops, so the API can refuse what fits no live worker.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { KilnConfig, Logger } from '@kiln/config';
import { DEFAULT_VAE_TILE_SIZE } from '@kiln/diffusion';
import type { ModelMemoryProfile } from '@kiln/memory';
import { CAPACITY_REFRESH_MS, publishCapacity, withdrawCapacity } from '@kiln/state';
import type { RedisClient } from '@kiln/queue';

const VAE_SCALE = 8;

export function startCapacityAnnouncer(
  redis: RedisClient,
  { config, logger, profile }: { config: Readonly<KilnConfig>; logger: Logger; profile: ModelMemoryProfile },
): () => Promise<void> {
  const workerId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const capacity = { budgetBytes: config.workerMemoryBytes, profile, vaeTileLatent: DEFAULT_VAE_TILE_SIZE / VAE_SCALE };
  const publish = () =>
    publishCapacity(redis, config.queuePrefix, 'sd15', workerId, capacity).catch((err: Error) =>
      logger.warn({ err: err.message }, 'memory capacity not published'),
    );
  void publish();
  const timer = setInterval(publish, CAPACITY_REFRESH_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await withdrawCapacity(redis, config.queuePrefix, 'sd15', workerId).catch(() => undefined);
  };
}
