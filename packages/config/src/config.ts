import { z } from 'zod';
import os from 'node:os';
import path from 'node:path';
import { parseRedisUrl, redisKeyPrefix } from './redis-url.js';

const flag = z
  .enum(['0', '1', 'true', 'false', ''])
  .optional()
  .transform((v) => v === '1' || v === 'true');
const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

/**
 * Every environment variable Kiln reads, with its default. This is the only place that reads
 * `process.env`; docs/configuration.md documents the same list.
 */
const envSchema = z.object({
  REDIS_URL: z
    .string()
    .superRefine((url, ctx) => {
      try {
        parseRedisUrl(url);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional(),
  PORT: int(8080, 0),
  KILN_HOST: z.string().optional(),
  KILN_PUBLIC_URL: z.string().url().optional(),
  KILN_DATA_DIR: z.string().default('./data'),
  KILN_MODELS_DIR: z.string().default('./models'),
  KILN_SD15_MODEL: z.string().default('tiny-sd15'),
  KILN_SD3_MODEL: z.string().default('tiny-sd3'),
  KILN_EXECUTION_PROVIDER: z.enum(['cpu', 'cuda', 'webgpu', 'auto']).default('cpu'),
  // A worker's fleet entry lapses after 3 missed heartbeats (GET /v1/workers, /readyz).
  KILN_WORKER_HEARTBEAT_MS: int(5_000, 100),
  // Work units per second per worker assumed for the backlog before any worker has measured one.
  KILN_ASSUMED_THROUGHPUT: z.coerce.number().positive().default(1),
  KILN_KEYS_FILE: z.string().optional(),
  KILN_ALLOW_ANY_RESOLUTION: flag,
  KILN_WEBHOOK_ALLOW_PRIVATE: flag,
  KILN_QUEUE_PREFIX: z
    .string()
    // `{name}`: a hash tag chosen by hand (a cluster gets one anyway; docs/operations.md, "Redis Cluster").
    .regex(/^([a-zA-Z0-9_-]+|\{[a-zA-Z0-9_-]+\})$/)
    .default('kiln'),
  KILN_WORKER_CONCURRENCY: int(1, 1),
  KILN_MICRO_BATCH: int(4, 1),
  // A render's peak memory budget on a worker; by default three quarters of this machine's memory.
  KILN_MODEL_CACHE_MB: z.coerce.number().int().min(1).optional(),
  KILN_WORKER_MEMORY_MB: int(Math.floor((os.totalmem() * 0.75) / 2 ** 20), 256),
  KILN_INTRA_OP_THREADS: int(0, 0),
  KILN_OPTIMIZED_MODEL_CACHE: z.string().optional(),
  KILN_RESULT_TTL_HOURS: z.coerce
    .number()
    .positive()
    .default(24 * 7),
  KILN_SYNC_TIMEOUT_MS: int(300_000, 1),
  KILN_MAX_BODY_BYTES: int(32 * 1024 * 1024, 1024),
  KILN_MAX_IMAGE_PIXELS: int(4096 * 4096, 64 * 64),
  KILN_JOB_ATTEMPTS: int(3, 1),
  // Short enough that a dead worker's job waits ≤ 15 s; renders run off the event loop, so a busy
  // worker still renews its lock (docs/reliability.md, "Lock settings").
  KILN_JOB_LOCK_MS: int(10_000, 1000),
  KILN_END_RECONCILE_MS: int(30_000, 100),
  KILN_HEADERS_TIMEOUT_MS: int(10_000, 100),
  KILN_BODY_TIMEOUT_MS: int(30_000, 100),
  KILN_BATCH_BODY_TIMEOUT_MS: int(900_000, 100),
  KILN_MAX_UPLOADS: int(256, 1),
  KILN_MAX_UPLOADS_PER_CLIENT: int(16, 1),
  KILN_AUTH_FAILURES_PER_MINUTE: int(30, 1),
  KILN_REDIS_COMMAND_TIMEOUT_MS: int(5_000, 100),
  KILN_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'must be whsec_ followed by base64 (Standard Webhooks secret)')
    .optional(),
  KILN_WEBHOOK_ATTEMPTS: int(10, 1),
  KILN_WEBHOOK_BACKOFF_MS: int(60_000, 1),
  KILN_WEBHOOK_TIMEOUT_MS: int(10_000, 100),
  KILN_WEBHOOK_CONCURRENCY: int(16, 1),
  KILN_BATCH_MAX_ITEMS: int(100_000, 1),
  KILN_BATCH_MAX_BODY_BYTES: int(512 * 1024 * 1024, 1024),
  KILN_ASSETS_DIR: z.string().optional(),
  KILN_MAX_ASSET_BYTES: int(2 * 1024 * 1024 * 1024, 1024),
  KILN_ASSET_UPLOAD_TIMEOUT_MS: int(1_800_000, 100),
  KILN_ASSET_CACHE_DIR: z.string().optional(),
  KILN_ASSET_CACHE_BYTES: int(20 * 1024 * 1024 * 1024, 1024),
  KILN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Storage: the filesystem (KILN_DATA_DIR) or an S3-compatible bucket. S3 credentials are not
  // read here: the AWS SDK's default chain finds them (AWS_ACCESS_KEY_ID…), so they are never logged.
  KILN_STORAGE: z.enum(['fs', 's3']).default('fs'),
  KILN_S3_ENDPOINT: z.string().url().optional(),
  KILN_S3_PUBLIC_ENDPOINT: z.string().url().optional(),
  KILN_S3_REGION: z.string().min(1).default('us-east-1'),
  KILN_S3_BUCKET: z.string().min(3).optional(),
  KILN_S3_PREFIX: z
    .string()
    .regex(/^([A-Za-z0-9][A-Za-z0-9._-]*\/?)*$/, 'slash-separated segments of letters, digits, . _ -')
    .default(''),
  KILN_S3_FORCE_PATH_STYLE: flag,
  // Presigned image URLs: at most S3's limit of 7 days.
  KILN_IMAGE_URL_TTL_S: int(3600, 1).pipe(z.number().max(604_800)),
});

export interface KilnConfig {
  /** Redis to use; undefined means "127.0.0.1:6379, or start a local redis-server" (`kiln start`). */
  redisUrl: string | undefined;
  port: number;
  /** Interface to bind. Local mode (no keys file) binds to loopback only. */
  host: string;
  /** Base URL used in links the API hands out (poll_url, image URLs); derived from the request when unset. */
  publicUrl: string | undefined;
  dataDir: string;
  modelsDir: string;
  sd15Model: string;
  sd3Model: string | undefined;
  executionProvider: 'cpu' | 'cuda' | 'webgpu' | 'auto';
  /** How often a worker refreshes its fleet entry; the entry lapses after three missed ones. */
  workerHeartbeatMs: number;
  /** Work units per second assumed for the backlog's worker-seconds until a worker measures its own. */
  assumedThroughput: number;
  keysFile: string | undefined;
  /** Local mode: no keys file, every caller is the `local` tenant, loopback only. */
  localMode: boolean;
  allowAnyResolution: boolean;
  webhookAllowPrivate: boolean;
  /** The prefix of every Redis key: KILN_QUEUE_PREFIX, as a hash tag (`{kiln}`) on a Redis Cluster. */
  queuePrefix: string;
  workerConcurrency: number;
  /** Images per UNet call (CFG doubles it); fewer when a render would not fit `workerMemoryBytes`. */
  microBatchSize: number;
  /**
   * The peak bytes a worker lets one render take (docs/memory.md): it picks the UNet micro-batch to
   * fit, and the API refuses, before queueing, a request that fits no live worker's budget.
   */
  workerMemoryBytes: number;
  /**
   * Weights of loaded model/asset combinations a worker keeps (least recently used released first);
   * unset: one at a time. The memory budget counts one model's weights, so leave room for the rest.
   */
  modelCacheBytes: number | undefined;
  /** onnxruntime intra-op threads; 0: one per physical core available to the worker. */
  intraOpThreads: number;
  /**
   * onnxruntime's optimized models, saved at a model's first load and loaded by later worker
   * starts (`KILN_OPTIMIZED_MODEL_CACHE`, default `<KILN_DATA_DIR>/optimized-models`; `off`: none).
   */
  optimizedModelCacheDir: string | undefined;
  resultTtlMs: number;
  syncTimeoutMs: number;
  maxBodyBytes: number;
  maxImagePixels: number;
  jobAttempts: number;
  /** A worker renews its job lock this often ×2; a job whose worker died returns to the queue after it lapses. */
  jobLockMs: number;
  /** How often a worker replays the end bookkeeping of recently finished jobs (see end-reconciler.ts). */
  endReconcileMs: number;
  /** Time a client has to send a request's headers (408 and closed after it). */
  headersTimeoutMs: number;
  /** Time a client has to send a request's body, from its headers (408 and closed after it). */
  bodyTimeoutMs: number;
  /** The same for `POST /v1/batches`, whose body may be hundreds of MB. */
  batchBodyTimeoutMs: number;
  /** Request bodies being received at once, all clients together (503 above). */
  maxUploads: number;
  /** Request bodies being received at once from one client address (429 above). */
  maxUploadsPerClient: number;
  /** Failed authentications per client address and minute before it gets 429 (per API process). */
  authFailuresPerMinute: number;
  /** The API answers 503 when one Redis command takes longer (a Redis that hangs without closing). */
  redisCommandTimeoutMs: number;
  /** Local mode's webhook signing secret (`whsec_…`); with a keys file each key's `webhook_secret` signs. */
  webhookSecret: string | undefined;
  /** Delivery attempts per webhook message (first try included). */
  webhookAttempts: number;
  /** Base of the exponential backoff between attempts: base, 2×base, 4×base, … */
  webhookBackoffMs: number;
  /** Time limit of one delivery attempt (connect + response headers). */
  webhookTimeoutMs: number;
  /** Deliveries in flight at once per worker process. */
  webhookConcurrency: number;
  /** Most items one `POST /v1/batches` may carry. */
  batchMaxItems: number;
  /** Body limit of `POST /v1/batches` (streamed; separate from KILN_MAX_BODY_BYTES). */
  batchMaxBodyBytes: number;
  /** The operator's shared, read-only assets (`library:<name>`): `<dir>/<type>/<name>.<ext>` (docs/assets.md). */
  assetsDir: string | undefined;
  /** Largest asset file `POST /v1/assets` takes (413 above). */
  maxAssetBytes: number;
  /** Time a client has to send an asset upload's body. */
  assetUploadTimeoutMs: number;
  /** A worker's local copies of uploaded assets, by SHA-256 (default `<KILN_DATA_DIR>/asset-cache`). */
  assetCacheDir: string;
  /** Size bound of that cache; least recently used entries go first. */
  assetCacheBytes: number;
  logLevel: string;
  /** Where inputs, results and uploaded assets live: `KILN_DATA_DIR`, or an S3-compatible bucket. */
  storage: StorageConfig;
  /** Lifetime of presigned image URLs (`?image_urls=1`), in seconds. */
  imageUrlTtlSeconds: number;
}

/** `KILN_STORAGE` and `KILN_S3_*`; the same shape `@kiln/storage`'s `createStore` takes. */
export type StorageConfig =
  | { kind: 'fs' }
  | {
      kind: 's3';
      endpoint?: string;
      publicEndpoint?: string;
      region: string;
      bucket: string;
      prefix: string;
      forcePathStyle: boolean;
    };

export class ConfigError extends Error {}

/** Reads and validates the environment once; the result is frozen. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<KilnConfig> {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const localMode = !e.KILN_KEYS_FILE;
  if (e.KILN_STORAGE === 's3' && !e.KILN_S3_BUCKET) {
    throw new ConfigError('invalid configuration:\n  KILN_S3_BUCKET: required when KILN_STORAGE=s3');
  }
  return Object.freeze({
    redisUrl: e.REDIS_URL,
    port: e.PORT,
    host: localMode ? '127.0.0.1' : (e.KILN_HOST ?? '0.0.0.0'),
    publicUrl: e.KILN_PUBLIC_URL,
    dataDir: path.resolve(e.KILN_DATA_DIR),
    modelsDir: path.resolve(e.KILN_MODELS_DIR),
    sd15Model: e.KILN_SD15_MODEL,
    sd3Model: e.KILN_SD3_MODEL,
    executionProvider: e.KILN_EXECUTION_PROVIDER,
    workerHeartbeatMs: e.KILN_WORKER_HEARTBEAT_MS,
    assumedThroughput: e.KILN_ASSUMED_THROUGHPUT,
    keysFile: e.KILN_KEYS_FILE,
    localMode,
    allowAnyResolution: e.KILN_ALLOW_ANY_RESOLUTION,
    webhookAllowPrivate: e.KILN_WEBHOOK_ALLOW_PRIVATE,
    queuePrefix: redisKeyPrefix(e.KILN_QUEUE_PREFIX, e.REDIS_URL),
    workerConcurrency: e.KILN_WORKER_CONCURRENCY,
    microBatchSize: e.KILN_MICRO_BATCH,
    workerMemoryBytes: e.KILN_WORKER_MEMORY_MB * 2 ** 20,
    modelCacheBytes: e.KILN_MODEL_CACHE_MB === undefined ? undefined : e.KILN_MODEL_CACHE_MB * 2 ** 20,
    intraOpThreads: e.KILN_INTRA_OP_THREADS,
    optimizedModelCacheDir:
      e.KILN_OPTIMIZED_MODEL_CACHE === 'off'
        ? undefined
        : path.resolve(e.KILN_OPTIMIZED_MODEL_CACHE ?? path.join(e.KILN_DATA_DIR, 'optimized-models')),
    resultTtlMs: e.KILN_RESULT_TTL_HOURS * 3600_000,
    syncTimeoutMs: e.KILN_SYNC_TIMEOUT_MS,
    maxBodyBytes: e.KILN_MAX_BODY_BYTES,
    maxImagePixels: e.KILN_MAX_IMAGE_PIXELS,
    jobAttempts: e.KILN_JOB_ATTEMPTS,
    jobLockMs: e.KILN_JOB_LOCK_MS,
    endReconcileMs: e.KILN_END_RECONCILE_MS,
    headersTimeoutMs: e.KILN_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: e.KILN_BODY_TIMEOUT_MS,
    batchBodyTimeoutMs: e.KILN_BATCH_BODY_TIMEOUT_MS,
    maxUploads: e.KILN_MAX_UPLOADS,
    maxUploadsPerClient: e.KILN_MAX_UPLOADS_PER_CLIENT,
    authFailuresPerMinute: e.KILN_AUTH_FAILURES_PER_MINUTE,
    redisCommandTimeoutMs: e.KILN_REDIS_COMMAND_TIMEOUT_MS,
    webhookSecret: e.KILN_WEBHOOK_SECRET,
    webhookAttempts: e.KILN_WEBHOOK_ATTEMPTS,
    webhookBackoffMs: e.KILN_WEBHOOK_BACKOFF_MS,
    webhookTimeoutMs: e.KILN_WEBHOOK_TIMEOUT_MS,
    webhookConcurrency: e.KILN_WEBHOOK_CONCURRENCY,
    batchMaxItems: e.KILN_BATCH_MAX_ITEMS,
    batchMaxBodyBytes: e.KILN_BATCH_MAX_BODY_BYTES,
    assetsDir: e.KILN_ASSETS_DIR === undefined ? undefined : path.resolve(e.KILN_ASSETS_DIR),
    maxAssetBytes: e.KILN_MAX_ASSET_BYTES,
    assetUploadTimeoutMs: e.KILN_ASSET_UPLOAD_TIMEOUT_MS,
    assetCacheDir: path.resolve(e.KILN_ASSET_CACHE_DIR ?? path.join(e.KILN_DATA_DIR, 'asset-cache')),
    assetCacheBytes: e.KILN_ASSET_CACHE_BYTES,
    logLevel: e.KILN_LOG_LEVEL,
    storage: storageOf(e),
    imageUrlTtlSeconds: e.KILN_IMAGE_URL_TTL_S,
  });
}

function storageOf(e: z.output<typeof envSchema>): StorageConfig {
  if (e.KILN_STORAGE === 'fs') return { kind: 'fs' };
  return {
    kind: 's3',
    ...(e.KILN_S3_ENDPOINT && { endpoint: e.KILN_S3_ENDPOINT }),
    ...(e.KILN_S3_PUBLIC_ENDPOINT && { publicEndpoint: e.KILN_S3_PUBLIC_ENDPOINT }),
    region: e.KILN_S3_REGION,
    bucket: e.KILN_S3_BUCKET as string,
    prefix: e.KILN_S3_PREFIX,
    forcePathStyle: e.KILN_S3_FORCE_PATH_STYLE,
  };
}
