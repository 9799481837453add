/** The only module (with decode-image.ts) that imports sharp. */
import sharp from 'sharp';

export type ImageEncoding = 'png' | 'jpeg';

export const CONTENT_TYPES: Record<ImageEncoding, string> = { png: 'image/png', jpeg: 'image/jpeg' };
export const FILE_EXTENSIONS: Record<ImageEncoding, string> = { png: 'png', jpeg: 'jpg' };

/**
 * Encodes RGB HWC uint8 pixels. PNG is lossless, so a PNG round-trips the exact pixels the
 * pipeline produced (what the parity tests rely on); JPEG uses quality 92 with 4:4:4 chroma.
 */
export async function encodeImage(
  pixels: Uint8Array,
  width: number,
  height: number,
  encoding: ImageEncoding,
): Promise<Buffer> {
  const image = sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), {
    raw: { width, height, channels: 3 },
  });
  return encoding === 'png'
    ? image.png({ compressionLevel: 6 }).toBuffer()
    : image.jpeg({ quality: 92, chromaSubsampling: '4:4:4' }).toBuffer();
}

/** Decodes an encoded image to RGB HWC uint8 (alpha dropped); used by tests and the CLI. */
export async function decodeToRgb(bytes: Uint8Array): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    width: info.width,
    height: info.height,
  };
}
