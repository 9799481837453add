/**
 * Turns one render job into images in storage: read the job → pick the model → read its input
 * images → render on the inference thread → encode and store → return the keys. Failures caused
 * by the input are unrecoverable (reported as 4xx, never retried); anything else throws and the
 * queue retries it with backoff.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  encodeFailure,
  recordableRequest,
  type AssetReport,
  type ErrorCode,
  type RenderJobData,
  type RenderJobResult,
  type StoredImage,
} from '@kiln/contracts';
import type { KilnConfig, Logger } from '@kiln/config';
import {
  CONTENT_TYPES,
  FILE_EXTENSIONS,
  encodeImage,
  RenderAbortedError,
  RenderInputError,
  type DiffusionThread,
  type RenderResult,
} from '@kiln/diffusion';
import { MalformedJobError, readJobData, type RenderJob } from '@kiln/queue';
import { resultKey, resultManifestKey, type BlobStore } from '@kiln/storage';
import { UnrecoverableError } from 'bullmq';
import { AssetCache, AssetUnavailableError, type LocalAssets } from './asset-cache.js';
import { readInputImages } from './input-images.js';
import type { AttemptContext } from './render-attempt.js';
import { toRenderRequest } from './render-params.js';

export interface ProcessorDeps {
  config: Readonly<KilnConfig>;
  store: BlobStore;
  thread: DiffusionThread;
  logger: Logger;
  /** Where the job's custom assets come from (default: one built from the config). */
  assetCache?: AssetCache;
}

/** A failure the queue must not retry: the job itself is at fault, or it was canceled. */
export function unrecoverable(code: ErrorCode, message: string, field?: string): UnrecoverableError {
  return new UnrecoverableError(encodeFailure({ code, message, ...(field && { field }) }));
}

function readJob(job: RenderJob): RenderJobData {
  try {
    return readJobData(job);
  } catch (err) {
    if (err instanceof MalformedJobError) throw unrecoverable('invalid_request', err.message);
    throw err;
  }
}

/** The model folder a job renders with; an unknown checkpoint is the job's fault, not Kiln's. */
function modelDirFor(config: Readonly<KilnConfig>, job: RenderJobData, local?: LocalAssets): string {
  if (local?.checkpointDir) return local.checkpointDir;
  if (job.family === 'sd3') {
    if (!config.sd3Model)
      throw unrecoverable('model_unavailable', 'no SD3 model is configured on this worker (KILN_SD3_MODEL)');
    return path.join(config.modelsDir, config.sd3Model);
  }
  const { checkpoint } = job.request;
  if (checkpoint === undefined) return path.join(config.modelsDir, config.sd15Model);
  const dir = path.join(config.modelsDir, checkpoint);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(checkpoint) || !existsSync(path.join(dir, 'model_index.json'))) {
    throw unrecoverable(
      'input_rejected',
      `no checkpoint named ${JSON.stringify(checkpoint)} is installed`,
      'checkpoint',
    );
  }
  return dir;
}

async function storeImages(
  jobId: string,
  result: RenderResult,
  encoding: 'png' | 'jpeg',
  store: BlobStore,
): Promise<StoredImage[]> {
  return Promise.all(
    result.images.map(async (image, index) => {
      const stored = { index, seed: image.seed, contentType: CONTENT_TYPES[encoding], safetyScore: image.safetyScore };
      if (image.removedForSafety) return { ...stored, key: null, removedForSafety: true };
      const key = resultKey(jobId, index, FILE_EXTENSIONS[encoding]);
      const bytes = await encodeImage(image.pixels, image.width, image.height, encoding);
      await store.put(key, bytes);
      // Clients downloading straight from storage (presigned URLs) check what they got against it.
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { ...stored, key, sha256, removedForSafety: false };
    }),
  );
}

/** The job's assets on local disk; a missing or changed one fails the job naming its field. */
async function localAssets(cache: AssetCache, job: RenderJobData): Promise<LocalAssets | undefined> {
  if (job.family !== 'sd15' || !job.assets) return undefined;
  try {
    return await cache.materialize(job.assets);
  } catch (err) {
    if (err instanceof AssetUnavailableError) throw unrecoverable('input_rejected', err.message, err.field);
    throw err;
  }
}

/** The result's asset report, with the client's asset names instead of local file names. */
function assetReport(result: RenderResult, local: LocalAssets | undefined): AssetReport | undefined {
  if (!result.assets || !local) return undefined;
  const { mergedLoraLayers, unmatchedLoraKeys, addedTokens, loadMs } = result.assets;
  return {
    merged_lora_layers: mergedLoraLayers,
    unmatched_lora_keys: unmatchedLoraKeys.map((u) => ({ ...u, lora: local.names.get(u.lora)?.name ?? u.lora })),
    added_tokens: addedTokens,
    load_ms: Math.round(loadMs * 10) / 10,
  };
}

export function createRenderProcessor({ config, store, thread, logger, assetCache }: ProcessorDeps) {
  const assets = assetCache ?? new AssetCache(store, config.assetCacheDir, config.assetCacheBytes, config.assetsDir);
  return async function processRender(job: RenderJob, attempt: AttemptContext): Promise<RenderJobResult> {
    const data = readJob(job);
    const jobId = job.id as string;
    const local = await localAssets(assets, data);
    const started = performance.now();
    let result: RenderResult;
    let modelDir: string;
    try {
      modelDir = modelDirFor(config, data, local);
      const images = await readInputImages(store, data.inputs);
      const settings = {
        microBatchSize: config.microBatchSize,
        memoryBudgetBytes: config.workerMemoryBytes,
        imageLimits: { maxPixels: config.maxImagePixels, maxBytes: config.maxBodyBytes },
      };
      const request = toRenderRequest(data, modelDir, images, settings, local?.set, local?.controlnets);
      result = await thread.render(request, {
        signal: attempt.signal,
        onProgress: attempt.reportProgress,
        onStage: attempt.reportStage,
      });
    } catch (err) {
      if (err instanceof RenderInputError) throw unrecoverable(err.code, err.message, err.field);
      if (err instanceof RenderAbortedError) throw unrecoverable('canceled', 'the job was canceled');
      if (err instanceof Error && err.name === 'AssetError' && local) {
        // A LoRA that does not fit the model, an embedding of the wrong width, a bad file: the same
        // bytes fail the same way, so never retried. The message names assets as the client did.
        const { field, message } = AssetCache.describe(err.message, local.names);
        throw unrecoverable('input_rejected', message, field);
      }
      throw err;
    } finally {
      local?.release();
    }
    const predictionTimeMs = performance.now() - started;
    const images = await storeImages(jobId, result, data.request.image_encoding, store);
    const report = assetReport(result, local);
    if (report && report.unmatched_lora_keys.length > 0) {
      logger.warn({ jobId, unmatched: report.unmatched_lora_keys }, 'LoRA keys matched no module of the model');
    }
    const output: RenderJobResult = {
      images,
      predictionTimeMs,
      // A checkpoint asset is named as the request named it, not by its cache folder.
      model: (data.family === 'sd15' && data.assets?.checkpoint?.name) || path.basename(modelDir),
      ...(report && { assets: report }),
    };
    await store.putJson(resultManifestKey(jobId), {
      ...output,
      seeds: data.seeds,
      request: recordableRequest(data.request),
    });
    logger.info({ jobId, images: images.length, ms: Math.round(predictionTimeMs) }, 'render finished');
    return output;
  };
}
