/**
 * Cheap checks of base64 images at the door, without decoding pixels (the API never imports an
 * image codec): valid base64, a PNG/JPEG/WebP header, dimensions within the operator's limit (a
 * decompression bomb is refused before any worker decodes it), and a complete, still, 8-bit
 * container (image-structure.ts). Each refusal is 400 `invalid_image` naming the field.
 */
import { KilnError } from '@kiln/contracts';
import { imageSize } from 'image-size';
import { checkImageStructure } from './image-structure.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const DATA_URL = /^data:image\/[a-z+.-]+;base64,/i;
const ALLOWED_TYPES = new Set(['png', 'jpg', 'webp']);
/** The longest side a worker decodes (it refuses longer ones too); refused here first. */
export const MAX_IMAGE_SIDE = 8192;

export interface CheckedImage {
  bytes: Buffer;
  type: string;
  width: number;
  height: number;
}

export function checkBase64Image(field: string, value: string, maxPixels: number): CheckedImage {
  const payload = value.replace(DATA_URL, '').replace(/\s+/g, '');
  if (payload.length === 0 || payload.length % 4 === 1 || !BASE64.test(payload)) {
    throw new KilnError('invalid_image', `${field} is not valid base64`, { field });
  }
  const bytes = Buffer.from(payload, 'base64');
  let info: { width?: number; height?: number; type?: string };
  try {
    info = imageSize(bytes);
  } catch {
    throw new KilnError('invalid_image', `${field} is not a PNG, JPEG or WebP image`, { field });
  }
  if (!info.type || !ALLOWED_TYPES.has(info.type) || !info.width || !info.height) {
    throw new KilnError('invalid_image', `${field} is not a PNG, JPEG or WebP image`, { field });
  }
  if (info.width > MAX_IMAGE_SIDE || info.height > MAX_IMAGE_SIDE) {
    throw new KilnError(
      'invalid_image',
      `${field} is ${info.width}×${info.height}, over the limit of ${MAX_IMAGE_SIDE} pixels per side`,
      { field },
    );
  }
  if (info.width * info.height > maxPixels) {
    throw new KilnError(
      'invalid_image',
      `${field} is ${info.width}×${info.height}, over the limit of ${maxPixels} pixels`,
      { field },
    );
  }
  const problem = checkImageStructure(bytes, info.type as 'png' | 'jpg' | 'webp');
  if (problem) throw new KilnError('invalid_image', `${field} ${problem}`, { field });
  return { bytes, type: info.type, width: info.width, height: info.height };
}
