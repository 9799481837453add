import type { Readable } from 'node:stream';

/**
 * Where Kiln keeps inputs, results and uploaded assets, by key (`results/<job>/0.png`). Two
 * implementations: the filesystem ({@link FileStore}, one machine or a shared mount) and an
 * S3-compatible bucket ({@link S3Store}, a fleet that shares no disk). Both make every write
 * atomic from a reader's point of view: a key shows whole bytes or nothing.
 */
export interface BlobStore {
  /** `fs` or `s3`: what the store is, for logs and for callers that offer storage URLs. */
  readonly kind: 'fs' | 's3';
  put(key: string, bytes: Uint8Array | string): Promise<void>;
  /**
   * Streams `source` to `key` without holding it in memory, hashing as it goes; over `maxBytes`
   * it stops, stores nothing and throws {@link StoreLimitError}.
   */
  putStream(key: string, source: Readable, maxBytes?: number): Promise<{ size: number; sha256: string }>;
  /** A stream of the bytes under `key`, or undefined when there are none. */
  openRead(key: string): Promise<Readable | undefined>;
  putJson(key: string, value: unknown): Promise<void>;
  /** The bytes under `key`, or undefined when there are none (never written, or swept). */
  get(key: string): Promise<Buffer | undefined>;
  getJson<T>(key: string): Promise<T | undefined>;
  has(key: string): Promise<boolean>;
  /** Removes a key, or a whole prefix (`results/<job>`) with everything under it. */
  delete(keyOrPrefix: string): Promise<void>;
  /**
   * Retention: removes everything written more than `ttlMs` before `now`, except the permanent
   * prefixes (`assets/`, `asset-cache/`), plus abandoned partial writes. Returns how many objects
   * were removed.
   */
  sweep(ttlMs: number, now?: number): Promise<number>;
  /**
   * A URL that downloads `key` straight from storage for `expiresInSeconds`, without credentials;
   * undefined where the store has none (the filesystem: the API serves the bytes itself).
   */
  signedUrl(key: string, expiresInSeconds: number, options?: { contentType?: string }): Promise<string | undefined>;
}

/** A streamed write went over its `maxBytes`: nothing was stored. */
export class StoreLimitError extends Error {
  constructor(readonly maxBytes: number) {
    super(`over the limit of ${maxBytes} bytes`);
    this.name = 'StoreLimitError';
  }
}

export class InvalidKeyError extends Error {}

/** Keys are slash-separated paths of safe segments: `results/<job>/0.png`. */
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

export function assertKey(key: string): void {
  const segments = key.split('/');
  if (segments.length === 0 || !segments.every((s) => SEGMENT.test(s) && s !== '..' && s !== '.')) {
    throw new InvalidKeyError(`invalid storage key: ${JSON.stringify(key)}`);
  }
}

/**
 * Top-level folders retention never sweeps: assets live until their owner deletes them, and a
 * worker bounds its asset cache itself.
 */
export const PERMANENT_PREFIXES: ReadonlySet<string> = new Set(['assets', 'asset-cache']);
