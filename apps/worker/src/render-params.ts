/**
 * A job's request as the diffusion core takes it: the one mapping from the job's fields to the
 * pipeline's parameters, shared by the worker and `kiln render` (so both render the same job the
 * same way). Input images arrive as bytes: the worker reads them from storage, the CLI from files.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  MODEL_CONTROLNET_FOLDER,
  MODEL_CONTROLNET_PREFIX,
  type JobImageField,
  type RenderJobData,
  type Sd15Job,
  type Sd3Job,
} from '@kiln/contracts';
import {
  RenderInputError,
  type ControlNetRequest,
  type ImageLimits,
  type RenderRequest,
  type RngSource,
  type Sd15AssetSet,
  type Sd15RenderParams,
  type Sd3RenderParams,
} from '@kiln/diffusion';

export type InputImages = Partial<Record<JobImageField, Uint8Array>> & {
  /** One conditioning image per ControlNet, in the request's order. */
  controlnet_images?: Uint8Array[];
};

/** Request name → local `model.onnx` of the job's ControlNet assets (the asset cache's, or `kiln render`'s files). */
export type ControlNetFiles = Readonly<Record<string, string>>;

export interface RenderSettings {
  /** Images per UNet call (the worker's `KILN_MICRO_BATCH`). */
  microBatchSize: number;
  /** Peak bytes the render may take (`KILN_WORKER_MEMORY_MB`): the micro-batch shrinks to fit. */
  memoryBudgetBytes?: number;
  /** Decoding limits for input images. */
  imageLimits?: Partial<ImageLimits>;
  /** `kiln render --rng nv`: A1111's GPU noise; the API always renders with torch's CPU generator. */
  rng?: RngSource;
}

/**
 * What the inference thread renders for a job, with the model folder the job renders with and,
 * for SD1.5, its assets as local files (the worker's asset cache, or `kiln render`'s paths).
 */
export function toRenderRequest(
  job: RenderJobData,
  modelDir: string,
  images: InputImages,
  settings: RenderSettings,
  assets?: Sd15AssetSet,
  controlnetFiles: ControlNetFiles = {},
): RenderRequest {
  if (job.family === 'sd3') return { family: 'sd3', modelDir, params: toSd3RenderParams(job, images, settings) };
  const params = toRenderParams(job, images, settings);
  const controlnets = toControlNetRequests(job, modelDir, images, controlnetFiles);
  return {
    family: 'sd15',
    modelDir,
    params: controlnets ? { ...params, controlnets } : params,
    ...(assets && { assets }),
  };
}

/**
 * The job's ControlNets with their files and conditioning images: an asset by its local file, a
 * `model:<folder>` ControlNet inside the model folder (a 422 naming `controlnet` when it is not there).
 */
export function toControlNetRequests(
  job: Sd15Job,
  modelDir: string,
  images: InputImages,
  files: ControlNetFiles,
): ControlNetRequest[] | undefined {
  const controlnets = job.request.controlnets;
  if (!controlnets) return undefined;
  return controlnets.map((c, i) => {
    const field = controlnets.length > 1 ? `controlnet.${i}` : 'controlnet';
    let model = files[c.name];
    if (c.name.startsWith(MODEL_CONTROLNET_PREFIX)) {
      const folder = c.name.slice(MODEL_CONTROLNET_PREFIX.length);
      model = path.join(modelDir, folder, 'model.onnx');
      if (!MODEL_CONTROLNET_FOLDER.test(folder) || !existsSync(model)) {
        throw new RenderInputError('input_rejected', `the model has no ControlNet ${folder}/model.onnx`, field);
      }
    }
    if (model === undefined)
      throw new RenderInputError('input_rejected', `ControlNet ${c.name} is not available`, field);
    const image = images.controlnet_images?.[i];
    if (!image) {
      throw new RenderInputError(
        'input_rejected',
        `no conditioning image for ControlNet ${c.name}`,
        'controlnet_image',
      );
    }
    return { model, image, scale: c.scale, earlyStop: c.early_stop, ...(c.preprocess && { preprocess: c.preprocess }) };
  });
}

export function toRenderParams(job: Sd15Job, images: InputImages, settings: RenderSettings): Sd15RenderParams {
  const { request } = job;
  const params: Sd15RenderParams = {
    prompt: request.prompt,
    negativePrompt: request.negative_prompt,
    sampler: request.sampler,
    steps: request.steps,
    cfgScale: request.cfg_scale,
    width: request.width,
    height: request.height,
    seeds: job.seeds,
    clipSkip: request.clip_skip,
    microBatchSize: settings.microBatchSize,
    ...(settings.memoryBudgetBytes !== undefined && { memoryBudgetBytes: settings.memoryBudgetBytes }),
    ...(settings.rng && { rng: settings.rng }),
  };
  if (!images.init_image && !images.mask_image) return params;
  return {
    ...params,
    initImage: images.init_image,
    maskImage: images.mask_image,
    strength: request.strength,
    outpainting: request.outpainting,
    maskBlur: request.mask_blur,
    fullRes: request.inpaint_full_res,
    fullResPadding: request.inpaint_full_res_padding,
    pasteOriginal: request.inpaint_paste_original,
    ...(settings.imageLimits && { imageLimits: settings.imageLimits }),
  };
}

export function toSd3RenderParams(job: Sd3Job, images: InputImages, settings: RenderSettings): Sd3RenderParams {
  const { request } = job;
  return {
    prompt: request.prompt,
    negativePrompt: request.negative_prompt,
    ...(request.prompt_2 !== undefined && { prompt2: request.prompt_2 }),
    ...(request.negative_prompt_2 !== undefined && { negativePrompt2: request.negative_prompt_2 }),
    sampler: request.sampler,
    steps: request.steps,
    cfgScale: request.cfg_scale,
    width: request.width,
    height: request.height,
    seeds: job.seeds,
    microBatchSize: settings.microBatchSize,
    ...(settings.rng && { rng: settings.rng }),
    ...(images.init_image && {
      initImage: images.init_image,
      strength: request.strength,
      ...(settings.imageLimits && { imageLimits: settings.imageLimits }),
    }),
  };
}
