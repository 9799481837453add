import path from 'node:path';
import type { BlobStore } from './blob-store.js';
import { FileStore } from './file-store.js';
import { S3Store, type S3StoreOptions } from './s3-store.js';

/** Which store to use: the shape `@kiln/config` reads from `KILN_STORAGE` and `KILN_S3_*`. */
export type StorageSettings = { kind: 'fs' } | ({ kind: 's3' } & Omit<S3StoreOptions, 'credentials'>);

/** The configured store: files under `dataDir`, or the S3-compatible bucket. */
export function createStore(storage: StorageSettings, dataDir: string): BlobStore {
  if (storage.kind === 'fs') return new FileStore(path.resolve(dataDir));
  const { kind: _kind, ...options } = storage;
  return new S3Store(options);
}

/** Where a store writes, for a start-up log line (never credentials). */
export function describeStore(store: BlobStore): string {
  if (store instanceof S3Store) return store.describe();
  return store instanceof FileStore ? store.root : store.kind;
}
