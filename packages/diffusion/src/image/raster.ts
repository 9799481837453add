/** Plain in-memory images passed between the image helpers and the pipelines (no codec involved). */

/** RGB, row-major HWC, uint8 (what the pipelines decode to and what sharp reads as raw input). */
export interface RgbImage {
  width: number;
  height: number;
  pixels: Uint8Array;
}

/**
 * One channel per pixel, row-major, in [0, 1] (1 = white). Masks stay float so that a blurred
 * mask keeps its soft edge until the pipeline decides where to binarize it.
 */
export interface MaskPlane {
  width: number;
  height: number;
  values: Float32Array;
}

/** A rectangle in pixel coordinates: x1/y1 inclusive, x2/y2 exclusive. */
export interface PixelRegion {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export function rgbImage(width: number, height: number, pixels?: Uint8Array): RgbImage {
  const data = pixels ?? new Uint8Array(width * height * 3);
  if (data.length !== width * height * 3) {
    throw new RangeError(`an RGB image of ${width}×${height} needs ${width * height * 3} bytes, got ${data.length}`);
  }
  return { width, height, pixels: data };
}

/** PIL's `convert("L")`: ITU-R 601-2 luma in 16-bit fixed point, as Pillow computes it. */
export function lumaOf(image: RgbImage): MaskPlane {
  const values = new Float32Array(image.width * image.height);
  const p = image.pixels;
  for (let i = 0; i < values.length; i++) {
    const luma = (p[i * 3] * 19595 + p[i * 3 + 1] * 38470 + p[i * 3 + 2] * 7471 + 0x8000) >> 16;
    values[i] = luma / 255;
  }
  return { width: image.width, height: image.height, values };
}

/** A mask of one value everywhere (1 = repaint everything). */
export function uniformMask(width: number, height: number, value: number): MaskPlane {
  return { width, height, values: new Float32Array(width * height).fill(value) };
}

/** The pixels of `region` as a new image. */
export function cropRgb(image: RgbImage, region: PixelRegion): RgbImage {
  const width = region.x2 - region.x1;
  const height = region.y2 - region.y1;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((region.y1 + y) * image.width + region.x1) * 3;
    out.set(image.pixels.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, pixels: out };
}

export function cropMask(mask: MaskPlane, region: PixelRegion): MaskPlane {
  const width = region.x2 - region.x1;
  const height = region.y2 - region.y1;
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const from = (region.y1 + y) * mask.width + region.x1;
    out.set(mask.values.subarray(from, from + width), y * width);
  }
  return { width, height, values: out };
}

/** A copy of `target` with `patch` written at (x, y). */
export function pasteRgb(target: RgbImage, patch: RgbImage, x: number, y: number): RgbImage {
  const out = new Uint8Array(target.pixels);
  for (let row = 0; row < patch.height; row++) {
    const from = row * patch.width * 3;
    out.set(patch.pixels.subarray(from, from + patch.width * 3), ((y + row) * target.width + x) * 3);
  }
  return { width: target.width, height: target.height, pixels: out };
}
