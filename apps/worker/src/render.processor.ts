/**
 * Turns one BullMQ render job into images in storage: parse the payload again, render on the
 * inference thread, encode, store, return keys. Failures caused by the input are unrecoverable
 * (reported as 422, never retried); anything else throws and BullMQ retries it with backoff.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { VALIDATION_PARSE_PARAMS, canonicalSd15Sampler, createSd15RequestSchema, type Sd15Request } from '@kiln/contracts';
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
import {
  encodeFailure,
  renderJobDataSchema,
  type RenderJobData,
  type RenderJobProgress,
  type RenderJobResult,
  type StoredImage,
} from '@kiln/queue';
import { resultKey, resultManifestKey, type FileStore } from '@kiln/storage';
import { imageEditingParams } from './image-inputs.js';
import { UnrecoverableError, type Job } from 'bullmq';

export interface ProcessorDeps {
  config: Readonly<KilnConfig>;
  store: FileStore;
  thread: DiffusionThread;
  logger: Logger;
}

function unrecoverable(code: string, message: string, field?: string): UnrecoverableError {
  return new UnrecoverableError(encodeFailure({ code, message, ...(field && { field }) }));
}

function parseJob(job: Job, config: Readonly<KilnConfig>): { data: RenderJobData; request: Sd15Request } {
  const data = renderJobDataSchema.safeParse(job.data);
  if (!data.success) throw unrecoverable('invalid_request', `malformed job payload: ${data.error.message}`);
  if (data.data.family !== 'sd15') {
    throw unrecoverable('model_unavailable', 'no SD3 model is configured on this worker');
  }
  const request = createSd15RequestSchema({ allowAnyResolution: config.allowAnyResolution }).safeParse(
    data.data.request,
    VALIDATION_PARSE_PARAMS,
  );
  if (!request.success) throw unrecoverable('invalid_request', `job request failed validation: ${request.error.message}`);
  return { data: data.data, request: request.data };
}

/** The model folder a request renders with; an unknown checkpoint is the request's fault, not Kiln's. */
function modelDirFor(config: Readonly<KilnConfig>, request: Sd15Request): string {
  if (request.checkpoint === undefined) return path.join(config.modelsDir, config.sd15Model);
  const dir = path.join(config.modelsDir, request.checkpoint);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(request.checkpoint) || !existsSync(path.join(dir, 'model_index.json'))) {
    throw unrecoverable('input_rejected', `no checkpoint named ${JSON.stringify(request.checkpoint)} is installed`, 'checkpoint');
  }
  return dir;
}

async function storeImages(
  jobId: string,
  result: RenderResult,
  encoding: 'png' | 'jpeg',
  store: FileStore,
): Promise<StoredImage[]> {
  return Promise.all(
    result.images.map(async (image, index) => {
      if (image.removedForSafety) {
        return { index, seed: image.seed, key: null, contentType: CONTENT_TYPES[encoding], removedForSafety: true, safetyScore: image.safetyScore };
      }
      const key = resultKey(jobId, index, FILE_EXTENSIONS[encoding]);
      await store.put(key, await encodeImage(image.pixels, image.width, image.height, encoding));
      return { index, seed: image.seed, key, contentType: CONTENT_TYPES[encoding], removedForSafety: false, safetyScore: image.safetyScore };
    }),
  );
}

export function createRenderProcessor({ config, store, thread, logger }: ProcessorDeps) {
  return async function processRender(job: Job, _token?: string, signal?: AbortSignal): Promise<RenderJobResult> {
    const { data, request } = parseJob(job, config);
    const jobId = job.id as string;
    const modelDir = modelDirFor(config, request);
    const started = performance.now();
    let result: RenderResult;
    try {
      result = await thread.render(
        {
          family: 'sd15',
          modelDir,
          params: {
            prompt: request.prompt,
            negativePrompt: request.negative_prompt ?? '',
            sampler: canonicalSd15Sampler(request.sampler),
            steps: request.steps,
            cfgScale: request.cfg_scale,
            width: request.width,
            height: request.height,
            seeds: data.seeds,
            clipSkip: request.clip_skip,
            microBatchSize: config.microBatchSize,
            ...(await imageEditingParams(store, data, request, config)),
          },
        },
        {
          signal,
          onProgress: (p) => {
            const progress: RenderJobProgress = { ...p };
            job.updateProgress(progress as unknown as object).catch(() => undefined);
          },
        },
      );
    } catch (err) {
      if (err instanceof RenderInputError) throw unrecoverable(err.code, err.message, err.field);
      if (err instanceof RenderAbortedError) throw unrecoverable('canceled', 'the job was canceled');
      throw err;
    }
    const predictionTimeMs = performance.now() - started;
    const images = await storeImages(jobId, result, request.image_encoding, store);
    const output: RenderJobResult = { images, predictionTimeMs, model: path.basename(modelDir) };
    await store.putJson(resultManifestKey(jobId), { ...output, seeds: data.seeds, request });
    logger.info({ jobId, images: images.length, ms: Math.round(predictionTimeMs) }, 'render finished');
    return output;
  };
}
