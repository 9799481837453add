/**
 * An SD3 render request as the renderer receives it (from the worker through the inference thread,
 * or from `kiln render`), and its routing: no image → text-to-image; `initImage` → image-to-image.
 * The init image arrives as the encoded bytes the client sent and is decoded here, on the inference
 * thread, before any model is loaded.
 */
import { decodeInitImage, type ImageLimits } from '../image/decode-image.js';
import type { RgbImage } from '../image/raster.js';
import { RenderInputError } from '../errors.js';
import type { Sd3Model } from '../models/sd3-model.js';
import { sd3ImageToImage } from '../pipelines/sd3/image-to-image.pipeline.js';
import type { Sd3Params } from '../pipelines/sd3/render-params.js';
import { sd3TextToImage } from '../pipelines/sd3/text-to-image.pipeline.js';
import type { RenderHooks, RenderResult } from '../pipelines/sd15/render-types.js';
import { DEFAULT_STRENGTH, type ImageInput } from './sd15-request.js';

/** SD3 is a flow-matching model: its one sampler. */
export const SD3_SAMPLER = 'FLOW_MATCH_EULER';

export interface Sd3RenderParams extends Omit<Sd3Params, 'prompt3' | 'negativePrompt3'> {
  /** Only FLOW_MATCH_EULER (the default). */
  sampler?: string;
  /** `init_image`: the image-to-image source (encoded bytes, or pixels at the output size). */
  initImage?: ImageInput;
  /** Default 0.8 with an init image. */
  strength?: number;
  /** Decoding limits for the init image; defaults in DEFAULT_IMAGE_LIMITS. */
  imageLimits?: Partial<ImageLimits>;
}

export interface Sd3RenderRequest {
  family: 'sd3';
  modelDir: string;
  params: Sd3RenderParams;
}

type DecodedSd3Params = Omit<Sd3RenderParams, 'initImage'> & { initImage?: RgbImage };

const isRgbImage = (x: unknown): x is RgbImage =>
  typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && 'pixels' in x && 'width' in x;

/** Checks the sampler and decodes the init image to the output size (a bad image fails here, naming its field). */
export async function decodeSd3RenderInputs(p: Sd3RenderParams): Promise<DecodedSd3Params> {
  if (p.sampler !== undefined && p.sampler !== SD3_SAMPLER) {
    throw new RenderInputError(
      'input_rejected',
      `SD3 supports only the ${SD3_SAMPLER} sampler, not ${p.sampler}`,
      'sampler',
    );
  }
  const { initImage, ...rest } = p;
  if (initImage === undefined) {
    if (p.strength !== undefined) throw new RenderInputError('input_rejected', 'strength needs init_image', 'strength');
    return rest;
  }
  const decoded = isRgbImage(initImage)
    ? initImage
    : await decodeInitImage(initImage, {
        field: 'init_image',
        width: p.width,
        height: p.height,
        limits: p.imageLimits,
      });
  return { ...rest, initImage: decoded };
}

/** Runs the pipeline the inputs call for. */
export function renderSd3(model: Sd3Model, p: DecodedSd3Params, hooks: RenderHooks): Promise<RenderResult> {
  const { initImage, sampler: _sampler, imageLimits: _limits, ...params } = p;
  if (!initImage) return sd3TextToImage(model, params, hooks);
  return sd3ImageToImage(model, { ...params, initImage, strength: p.strength ?? DEFAULT_STRENGTH }, hooks);
}
