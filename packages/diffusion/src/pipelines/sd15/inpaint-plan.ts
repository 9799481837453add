/**
 * The pixel-space side of inpainting and outpainting, before and after the latent pipeline:
 *
 * before: blur the mask (`mask_blur`, AUTOMATIC1111's Gaussian), cut out the region around it
 *   and scale it to the output size (`inpaint_full_res`), binarize the mask at 0.5 (diffusers'
 *   mask processor: white = repaint), pre-fill the masked area for outpainting;
 * after: scale the rendered region back and paste it in, then paste the original back outside the
 *   mask (`inpaint_paste_original`, A1111's overlay) with the blurred mask as alpha.
 */
import { maskBoundingBox, expandToAspect } from '../../image/crop-region.js';
import { blendByMask } from '../../image/composite.js';
import { gaussianBlurPlane } from '../../image/gaussian-blur.js';
import { outpaintPrefill } from '../../image/outpaint-prefill.js';
import { cropMask, cropRgb, pasteRgb, type MaskPlane, type PixelRegion, type RgbImage } from '../../image/raster.js';
import { resizeMask, resizeRgb } from '../../image/resize-image.js';

export interface InpaintOptions {
  /** Pre-fill the masked area before denoising (outpainting). */
  outpainting: boolean;
  /** Gaussian blur of the mask, standard deviation in pixels; 0 = none. */
  maskBlur: number;
  /** Render only the region around the mask, at the full output size. */
  fullRes: boolean;
  /** Pixels of context kept around the mask's bounding box with `fullRes`. */
  fullResPadding: number;
  /** Paste the original pixels back outside the mask after decoding. */
  pasteOriginal: boolean;
}

export interface InpaintPlan {
  /** What the latent pipeline renders from, at the output size (cropped, scaled, pre-filled). */
  workImage: RgbImage;
  /** The binarized mask over `workImage`: 1 = repaint, 0 = keep. */
  workMask: MaskPlane;
  /** The region of the original rendered at full resolution, when `fullRes` cut one out. */
  region: PixelRegion | undefined;
  /** Turns a decoded render of `workImage` into the output image. */
  compose(generated: RgbImage): Promise<RgbImage>;
}

/** diffusers' `VaeImageProcessor.binarize`: < 0.5 → 0, ≥ 0.5 → 1. */
export function binarizeMask(mask: MaskPlane): MaskPlane {
  return { width: mask.width, height: mask.height, values: Float32Array.from(mask.values, (v) => (v < 0.5 ? 0 : 1)) };
}

function blurMask(mask: MaskPlane, sigma: number): MaskPlane {
  if (!(sigma > 0)) return mask;
  return { ...mask, values: gaussianBlurPlane(mask.values, mask.width, mask.height, sigma) };
}

/** The crop `fullRes` renders, or undefined when there is nothing to gain (no mask, or the whole image). */
function fullResRegion(softMask: MaskPlane, padding: number): PixelRegion | undefined {
  const box = maskBoundingBox(softMask, padding);
  if (!box) return undefined;
  const { width, height } = softMask;
  const region = expandToAspect(box, width, height, width, height);
  const whole = region.x1 === 0 && region.y1 === 0 && region.x2 === width && region.y2 === height;
  return whole ? undefined : region;
}

export async function planInpaint(image: RgbImage, mask: MaskPlane, options: InpaintOptions): Promise<InpaintPlan> {
  const { width, height } = image;
  const softMask = blurMask(mask, options.maskBlur);
  const region = options.fullRes ? fullResRegion(softMask, options.fullResPadding) : undefined;

  let workImage = region ? await resizeRgb(cropRgb(image, region), width, height) : image;
  const workMask = binarizeMask(region ? await resizeMask(cropMask(softMask, region), width, height) : softMask);
  if (options.outpainting) workImage = outpaintPrefill(workImage, workMask);

  return {
    workImage,
    workMask,
    region,
    async compose(generated) {
      let out = generated;
      if (region) {
        const patch = await resizeRgb(generated, region.x2 - region.x1, region.y2 - region.y1);
        out = pasteRgb(image, patch, region.x1, region.y1);
      }
      return options.pasteOriginal ? blendByMask(image, out, softMask) : out;
    },
  };
}
