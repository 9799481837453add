/**
 * Turns one render job into images in storage: read the job → pick the model → read its input
 * images → render on the inference thread → encode and store → return the keys. Failures caused
 * by the input are unrecoverable (reported as 4xx, never retried); anything else throws and the
 * queue retries it with backoff.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { encodeFailure, recordableRequest, type ErrorCode, type RenderJobData, type RenderJobResult, type StoredImage } from '@kiln/contracts';
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
import { resultKey, resultManifestKey, type FileStore } from '@kiln/storage';
import { UnrecoverableError } from 'bullmq';
import { readInputImages } from './input-images.js';
import type { AttemptContext } from './render-attempt.js';
import { toRenderRequest } from './render-params.js';

export interface ProcessorDeps {
  config: Readonly<KilnConfig>;
  store: FileStore;
  thread: DiffusionThread;
  logger: Logger;
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
function modelDirFor(config: Readonly<KilnConfig>, job: RenderJobData): string {
  if (job.family === 'sd3') {
    if (!config.sd3Model) throw unrecoverable('model_unavailable', 'no SD3 model is configured on this worker (KILN_SD3_MODEL)');
    return path.join(config.modelsDir, config.sd3Model);
  }
  const { checkpoint } = job.request;
  if (checkpoint === undefined) return path.join(config.modelsDir, config.sd15Model);
  const dir = path.join(config.modelsDir, checkpoint);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(checkpoint) || !existsSync(path.join(dir, 'model_index.json'))) {
    throw unrecoverable('input_rejected', `no checkpoint named ${JSON.stringify(checkpoint)} is installed`, 'checkpoint');
  }
  return dir;
}

async function storeImages(jobId: string, result: RenderResult, encoding: 'png' | 'jpeg', store: FileStore): Promise<StoredImage[]> {
  return Promise.all(
    result.images.map(async (image, index) => {
      const stored = { index, seed: image.seed, contentType: CONTENT_TYPES[encoding], safetyScore: image.safetyScore };
      if (image.removedForSafety) return { ...stored, key: null, removedForSafety: true };
      const key = resultKey(jobId, index, FILE_EXTENSIONS[encoding]);
      await store.put(key, await encodeImage(image.pixels, image.width, image.height, encoding));
      return { ...stored, key, removedForSafety: false };
    }),
  );
}

export function createRenderProcessor({ config, store, thread, logger }: ProcessorDeps) {
  return async function processRender(job: RenderJob, attempt: AttemptContext): Promise<RenderJobResult> {
    const data = readJob(job);
    const jobId = job.id as string;
    const modelDir = modelDirFor(config, data);
    const started = performance.now();
    let result: RenderResult;
    try {
      const images = await readInputImages(store, data.inputs);
      const settings = {
        microBatchSize: config.microBatchSize,
        imageLimits: { maxPixels: config.maxImagePixels, maxBytes: config.maxBodyBytes },
      };
      result = await thread.render(toRenderRequest(data, modelDir, images, settings), {
        signal: attempt.signal,
        onProgress: attempt.reportProgress,
      });
    } catch (err) {
      if (err instanceof RenderInputError) throw unrecoverable(err.code, err.message, err.field);
      if (err instanceof RenderAbortedError) throw unrecoverable('canceled', 'the job was canceled');
      throw err;
    }
    const predictionTimeMs = performance.now() - started;
    const images = await storeImages(jobId, result, data.request.image_encoding, store);
    const output: RenderJobResult = { images, predictionTimeMs, model: path.basename(modelDir) };
    await store.putJson(resultManifestKey(jobId), { ...output, seeds: data.seeds, request: recordableRequest(data.request) });
    logger.info({ jobId, images: images.length, ms: Math.round(predictionTimeMs) }, 'render finished');
    return output;
  };
}
