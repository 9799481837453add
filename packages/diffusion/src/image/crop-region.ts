/**
 * "Inpaint at full resolution" (AUTOMATIC1111's `inpaint_full_res`, OctoAI's field of that name):
 * the region around the mask is cut out, rendered at the full output size, and pasted back.
 * These helpers find that region the way A1111's `get_crop_region` and `expand_crop_region` do.
 */
import type { MaskPlane, PixelRegion } from './raster.js';

/**
 * The smallest rectangle holding every mask value above `threshold`, grown by `padding` pixels on
 * each side and clamped to the mask; undefined when nothing is masked.
 */
export function maskBoundingBox(mask: MaskPlane, padding: number, threshold = 0.5 / 255): PixelRegion | undefined {
  let x1 = mask.width;
  let y1 = mask.height;
  let x2 = -1;
  let y2 = -1;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (mask.values[y * mask.width + x] <= threshold) continue;
      if (x < x1) x1 = x;
      if (x > x2) x2 = x;
      if (y < y1) y1 = y;
      if (y > y2) y2 = y;
    }
  }
  if (x2 < 0) return undefined;
  return {
    x1: Math.max(x1 - padding, 0),
    y1: Math.max(y1 - padding, 0),
    x2: Math.min(x2 + 1 + padding, mask.width),
    y2: Math.min(y2 + 1 + padding, mask.height),
  };
}

/** Grows [lo, hi) by `extra` (half before, half after), then shifts it back inside [0, limit). */
function growInside(lo: number, hi: number, extra: number, limit: number): [number, number] {
  let a = lo - Math.floor(extra / 2);
  let b = hi + (extra - Math.floor(extra / 2));
  if (b > limit) {
    a -= b - limit;
    b = limit;
  }
  if (a < 0) {
    b -= a;
    a = 0;
  }
  return [a, Math.min(b, limit)];
}

/**
 * Grows `region` along one axis until its aspect ratio is the output's (so the crop scales to
 * width × height without distortion), keeping it inside the image; where the image is too small
 * the region stops at its edge.
 */
export function expandToAspect(
  region: PixelRegion,
  outputWidth: number,
  outputHeight: number,
  imageWidth: number,
  imageHeight: number,
): PixelRegion {
  const width = region.x2 - region.x1;
  const height = region.y2 - region.y1;
  const target = outputWidth / outputHeight;
  if (width / height > target) {
    const extra = Math.trunc(width / target - height);
    const [y1, y2] = growInside(region.y1, region.y2, extra, imageHeight);
    return { x1: region.x1, y1, x2: region.x2, y2 };
  }
  const extra = Math.trunc(height * target - width);
  const [x1, x2] = growInside(region.x1, region.x2, extra, imageWidth);
  return { x1, y1: region.y1, x2, y2: region.y2 };
}
