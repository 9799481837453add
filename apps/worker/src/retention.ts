import type { Logger } from '@kiln/config';
import type { BlobStore } from '@kiln/storage';

/**
 * Deletes stored inputs and results older than the retention TTL, at start and then every
 * `everyMs`. BullMQ drops the finished job records after the same TTL (removeOnComplete/Fail age),
 * so a job and its files go together. Several workers sweeping the same folder is harmless.
 */
export function startRetentionSweeper(store: BlobStore, ttlMs: number, logger: Logger, everyMs = 3600_000): () => void {
  const sweep = () =>
    store
      .sweep(ttlMs)
      .then((removed) => removed > 0 && logger.info({ removed }, 'retention: removed expired files'))
      .catch((err: Error) => logger.warn({ err: err.message }, 'retention sweep failed'));
  void sweep();
  const timer = setInterval(sweep, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
