/**
 * A render request's ControlNets as the renderer receives them, and their decoding: each
 * conditioning image is decoded and resized to the output size (diffusers' control image processor:
 * Lanczos stretch, RGB; a plain copy when already the size), then, when asked, turned into the
 * conditioning image by a preprocessor that needs no model (Canny edges, scribble, grayscale).
 */
import { resolve } from 'node:path';
import { decodeInitImage, type ImageLimits } from '../image/decode-image.js';
import { preprocessConditioningImage, type ControlPreprocessor } from '../image/control-preprocess.js';
import type { RgbImage } from '../image/raster.js';
import type { ControlNetInput } from '../pipelines/sd15/controlnet-residuals.js';

export interface ControlNetRequest {
  /** The ControlNet's `model.onnx` (the worker's asset cache, `kiln render --controlnet`, or the model folder's). */
  model: string;
  /** `controlnet_image`: encoded bytes, or pixels already at the output size. */
  image: Uint8Array | RgbImage;
  /** `controlnet_conditioning_scale` (default 1). */
  scale?: number;
  /** `controlnet_early_stop`: the fraction of steps it acts on (diffusers' `control_guidance_end`, default 1). */
  earlyStop?: number;
  /** `controlnet_preprocess`: the preprocessor to turn a photo into the conditioning image. */
  preprocess?: ControlPreprocessor;
  /** Canny thresholds (defaults 100 / 200, as the usual Canny ControlNet examples). */
  cannyThresholds?: { lowThreshold?: number; highThreshold?: number };
}

const isDecoded = (x: unknown): x is RgbImage =>
  typeof x === 'object' && x !== null && !ArrayBuffer.isView(x) && 'pixels' in x;

export async function decodeControlNets(
  controls: readonly ControlNetRequest[],
  size: { width: number; height: number; limits?: Partial<ImageLimits> },
): Promise<ControlNetInput[]> {
  const decoded: ControlNetInput[] = [];
  for (const [i, control] of controls.entries()) {
    // The field a problem is reported at: the list index when there are several.
    const field = controls.length > 1 ? `controlnet_image.${i}` : 'controlnet_image';
    let image = isDecoded(control.image)
      ? control.image
      : await decodeInitImage(control.image, { field, width: size.width, height: size.height, limits: size.limits });
    if (control.preprocess) image = preprocessConditioningImage(image, control.preprocess, control.cannyThresholds);
    decoded.push({
      model: resolve(control.model),
      image,
      scale: control.scale ?? 1,
      end: control.earlyStop ?? 1,
      field: controls.length > 1 ? `controlnet.${i}` : 'controlnet',
    });
  }
  return decoded;
}
