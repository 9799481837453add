/** Resampling of in-memory images with sharp (Lanczos-3, the kernel diffusers' image processor uses). */
import sharp from 'sharp';
import type { MaskPlane, RgbImage } from './raster.js';

/** Stretches an RGB image to width × height (no aspect-ratio handling: callers pass matching sizes). */
export async function resizeRgb(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  const { data } = await sharp(Buffer.from(image.pixels.buffer, image.pixels.byteOffset, image.pixels.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width, height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Stretches a mask; values are resampled as 8-bit levels (a mask needs no finer steps). */
export async function resizeMask(mask: MaskPlane, width: number, height: number): Promise<MaskPlane> {
  if (mask.width === width && mask.height === height) return mask;
  const levels = Uint8Array.from(mask.values, (v) => Math.round(Math.min(Math.max(v, 0), 1) * 255));
  const { data } = await sharp(Buffer.from(levels.buffer), {
    raw: { width: mask.width, height: mask.height, channels: 1 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width, height, values: Float32Array.from(data, (v) => v / 255) };
}
