/**
 * An SD1.5 render request as the renderer receives it (from the worker through the inference
 * thread, or from `kiln render`), and its routing: no image → text-to-image; `init_image` →
 * image-to-image; `init_image` + `mask_image` → inpainting (outpainting when asked). Images arrive
 * as the encoded bytes the client sent (the worker reads them from storage) and are decoded here,
 * on the inference thread, before any model is loaded.
 */
import { decodeInitImage, decodeMaskImage, type ImageLimits } from '../image/decode-image.js';
import { uniformMask, type MaskPlane, type RgbImage } from '../image/raster.js';
import { RenderInputError } from '../errors.js';
import type { Sd15Model } from '../models/sd15-model.js';
import { imageToImage } from '../pipelines/sd15/image-to-image.pipeline.js';
import { inpaint, type InpaintParams } from '../pipelines/sd15/inpaint.pipeline.js';
import type { TextToImageParams } from '../pipelines/sd15/render-params.js';
import type { RenderHooks, RenderResult } from '../pipelines/sd15/render-types.js';
import { textToImage } from '../pipelines/sd15/text-to-image.pipeline.js';
import type { ControlNetInput } from '../pipelines/sd15/controlnet-residuals.js';
import { decodeControlNets, type ControlNetRequest } from './controlnet-request.js';

/** Encoded image bytes (PNG, JPEG or WebP), or pixels already decoded at the output size. */
export type ImageInput = Uint8Array | RgbImage;

/** The default strength (docs/generate.md) with an init_image. */
export const DEFAULT_STRENGTH = 0.8;

export interface Sd15RenderParams extends Omit<TextToImageParams, 'controlnets'> {
  /** ControlNets (`controlnet`, `controlnet_image`, …), in request order; their residuals are summed. */
  controlnets?: readonly ControlNetRequest[];
  /** `init_image`: image-to-image source, or the picture to inpaint/outpaint. */
  initImage?: ImageInput;
  /** `mask_image`: white = repaint. Needs `initImage`. */
  maskImage?: ImageInput | MaskPlane;
  /** Default 0.8 with an init image. */
  strength?: number;
  /** Pre-fill the masked area before denoising; needs a mask. */
  outpainting?: boolean;
  /** `mask_blur`: Gaussian blur of the mask in pixels (default 0). */
  maskBlur?: number;
  /** `inpaint_full_res`: render the region around the mask at the full output size (default false). */
  fullRes?: boolean;
  /** `inpaint_full_res_padding`: context pixels around the mask's box (default 32). */
  fullResPadding?: number;
  /** `inpaint_paste_original`: original pixels outside the mask (default true). */
  pasteOriginal?: boolean;
  /** Decoding limits for the images (decompression-bomb guards); defaults in DEFAULT_IMAGE_LIMITS. */
  imageLimits?: Partial<ImageLimits>;
}

export interface Sd15RenderRequest {
  family: 'sd15';
  modelDir: string;
  params: Sd15RenderParams;
}

type DecodedParams = Omit<Sd15RenderParams, 'initImage' | 'maskImage' | 'controlnets'> & {
  initImage?: RgbImage;
  maskImage?: MaskPlane;
  controlnets?: ControlNetInput[];
};

// Encoded bytes are a typed array (whose prototype has a `values` method): test for them first.
const isDecoded = (x: unknown): x is object => typeof x === 'object' && x !== null && !ArrayBuffer.isView(x);
const isMaskPlane = (x: unknown): x is MaskPlane => isDecoded(x) && 'values' in x && 'width' in x;
const isRgbImage = (x: unknown): x is RgbImage => isDecoded(x) && 'pixels' in x && 'width' in x;

/** Decodes the request's images to the output size (a bad image fails here, naming its field). */
export async function decodeRenderInputs(p: Sd15RenderParams): Promise<DecodedParams> {
  const size = { width: p.width, height: p.height, limits: p.imageLimits };
  const { initImage, maskImage, controlnets, ...rest } = p;
  const decoded: DecodedParams = rest;
  if (controlnets !== undefined && controlnets.length > 0)
    decoded.controlnets = await decodeControlNets(controlnets, size);
  if (initImage !== undefined) {
    decoded.initImage = isRgbImage(initImage)
      ? initImage
      : await decodeInitImage(initImage, { field: 'init_image', ...size });
  }
  if (maskImage !== undefined) {
    if (isMaskPlane(maskImage)) decoded.maskImage = maskImage;
    else if (isRgbImage(maskImage))
      throw new RenderInputError('input_rejected', 'pass a decoded mask as a MaskPlane', 'mask_image');
    else decoded.maskImage = await decodeMaskImage(maskImage, { field: 'mask_image', ...size });
  }
  return decoded;
}

/** Runs the pipeline the inputs call for. */
export function renderSd15(model: Sd15Model, p: DecodedParams, hooks: RenderHooks): Promise<RenderResult> {
  const { initImage, maskImage } = p;
  if (!initImage) {
    if (maskImage)
      throw new RenderInputError(
        'input_rejected',
        'mask_image needs init_image (the image the mask applies to)',
        'mask_image',
      );
    if (p.outpainting)
      throw new RenderInputError('input_rejected', 'outpainting needs init_image and mask_image', 'outpainting');
    return textToImage(model, p, hooks);
  }
  const strength = p.strength ?? DEFAULT_STRENGTH;
  if (!maskImage) {
    if (p.outpainting) throw new RenderInputError('input_rejected', 'outpainting needs mask_image', 'outpainting');
    // An inpainting UNet does image-to-image with everything masked (AUTOMATIC1111 does the same).
    if (model.unetInChannels === 9) {
      const full: InpaintParams = { ...p, initImage, maskImage: uniformMask(p.width, p.height, 1), strength };
      return inpaint(model, full, hooks);
    }
    return imageToImage(model, { ...p, initImage, strength }, hooks);
  }
  return inpaint(model, { ...p, initImage, maskImage, strength }, hooks);
}
