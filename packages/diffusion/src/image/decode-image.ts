/**
 * Decodes user-supplied images (`init_image`, `mask_image`) with sharp, the way diffusers'
 * `VaeImageProcessor.preprocess` prepares a PIL image, with limits that stop decompression bombs:
 *
 * - byte size, then the header's width × height (sharp's `limitInputPixels`) and each side are
 *   checked before any pixel is decoded;
 * - EXIF orientation is applied (`rotate()` without an angle), so a phone photo is upright;
 * - alpha is flattened: an init image onto white (AUTOMATIC1111's default background), a mask
 *   onto black (a transparent pixel of a painted mask means "not painted", i.e. keep);
 * - the image is resized to the requested width × height by stretching (diffusers'
 *   `resize_mode="default"`: aspect ratio is not kept) with a Lanczos-3 kernel (diffusers' default
 *   `resample="lanczos"`); an image already of that size is not resampled at all;
 * - a mask is resized in RGB, then turned to luma as PIL's `convert("L")` (what diffusers'
 *   mask processor does: resize first, grayscale second).
 *
 * Every failure is a {@link RenderInputError} with code `invalid_image` naming the field.
 */
import sharp from 'sharp';
import { RenderInputError } from '../errors.js';
import { lumaOf, type MaskPlane, type RgbImage } from './raster.js';

export interface ImageLimits {
  /** Largest width × height decoded, checked from the header (sharp's `limitInputPixels`). Default 4096². */
  maxPixels: number;
  /** Largest encoded size in bytes. Default 32 MiB. */
  maxBytes: number;
  /** Largest width or height. Default 8192. */
  maxSide: number;
}

export const DEFAULT_IMAGE_LIMITS: Readonly<ImageLimits> = Object.freeze({
  maxPixels: 4096 * 4096,
  maxBytes: 32 * 1024 * 1024,
  maxSide: 8192,
});

export interface DecodeImageOptions {
  /** The request field the bytes came from, named in every error. */
  field: string;
  /** Output size (the request's width and height). */
  width: number;
  height: number;
  limits?: Partial<ImageLimits>;
}

const ACCEPTED_FORMATS = new Set(['png', 'jpeg', 'webp']);
const WHITE = { r: 255, g: 255, b: 255 };
const BLACK = { r: 0, g: 0, b: 0 };

function invalid(field: string, message: string): RenderInputError {
  return new RenderInputError('invalid_image', `${field} ${message}`, field);
}

function reasonOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

async function decodeFlattened(
  bytes: Uint8Array,
  options: DecodeImageOptions,
  background: typeof WHITE,
): Promise<RgbImage> {
  const { field, width, height } = options;
  const limits = { ...DEFAULT_IMAGE_LIMITS, ...options.limits };
  if (bytes.length === 0) throw invalid(field, 'is empty');
  if (bytes.length > limits.maxBytes) {
    throw invalid(field, `is ${bytes.length} bytes, over the limit of ${limits.maxBytes} bytes`);
  }
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const open = () => sharp(input, { limitInputPixels: limits.maxPixels, failOn: 'error' });

  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await open().metadata();
  } catch (err) {
    throw invalid(field, `could not be read as a PNG, JPEG or WebP image: ${reasonOf(err)}`);
  }
  if (!meta.format || !ACCEPTED_FORMATS.has(meta.format)) {
    throw invalid(field, `is ${meta.format ?? 'an unknown format'}; send a PNG, JPEG or WebP image`);
  }
  if (!meta.width || !meta.height) throw invalid(field, 'has no width or height in its header');
  if (meta.width > limits.maxSide || meta.height > limits.maxSide) {
    throw invalid(field, `is ${meta.width}×${meta.height}, over the limit of ${limits.maxSide} pixels per side`);
  }
  if (meta.width * meta.height > limits.maxPixels) {
    throw invalid(field, `is ${meta.width}×${meta.height}, over the limit of ${limits.maxPixels} pixels`);
  }
  // EXIF orientations 5–8 swap width and height once applied.
  const swapped = (meta.orientation ?? 1) >= 5;
  const [uprightWidth, uprightHeight] = swapped ? [meta.height, meta.width] : [meta.width, meta.height];

  let pipeline = open().rotate().flatten({ background }).removeAlpha().toColourspace('srgb');
  if (uprightWidth !== width || uprightHeight !== height) {
    pipeline = pipeline.resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
  }
  try {
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== width || info.height !== height) {
      throw new Error(`decoded to ${info.width}×${info.height}×${info.channels}`);
    }
    return { width, height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    throw invalid(field, `could not be decoded: ${reasonOf(err)}`);
  }
}

/** `init_image` → RGB at width × height (alpha flattened onto white). */
export function decodeInitImage(bytes: Uint8Array, options: DecodeImageOptions): Promise<RgbImage> {
  return decodeFlattened(bytes, options, WHITE);
}

/** `mask_image` → luma in [0, 1] at width × height (alpha flattened onto black; white = repaint). */
export async function decodeMaskImage(bytes: Uint8Array, options: DecodeImageOptions): Promise<MaskPlane> {
  return lumaOf(await decodeFlattened(bytes, options, BLACK));
}
