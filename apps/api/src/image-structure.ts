/**
 * What an input image's container says about it, read from its chunk and marker structure without
 * decoding a pixel: whether it is complete (a truncated upload would only fail on a worker, after
 * queueing), whether it is animated, and its sample format. Kiln takes one still frame of 8-bit
 * gray or RGB(A) samples; a CMYK JPEG, a 12-bit JPEG, a 16-bit PNG or an animation is refused at
 * the door with the reason, rather than silently converted or cut to its first frame.
 */
import { crc32 } from 'node:zlib';

/** Why the image cannot be used, or undefined when its structure is fine. */
export type StructureProblem = string | undefined;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function checkPng(bytes: Buffer): StructureProblem {
  if (!bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'is not a PNG (bad signature)';
  let offset = 8;
  let sawData = false;
  while (offset + 12 <= bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (length > 0x7fffffff || end > bytes.length) return 'is truncated (a PNG chunk runs past the end)';
    const body = bytes.subarray(offset + 4, offset + 8 + length);
    if (crc32(body) >>> 0 !== bytes.readUInt32BE(offset + 8 + length))
      return `is corrupt (the CRC of its ${JSON.stringify(type)} chunk is wrong)`;
    const data = body.subarray(4);
    if (offset === 8 && type !== 'IHDR') return 'is corrupt (a PNG must start with IHDR)';
    if (type === 'IHDR') {
      const bitDepth = data[8];
      if (bitDepth === 16) return 'is a 16-bit PNG; send 8 bits per channel';
    }
    if (type === 'acTL') return 'is an animated PNG; send a single still image';
    if (type === 'IDAT') sawData = true;
    if (type === 'IEND') return sawData ? undefined : 'is corrupt (a PNG without image data)';
    offset = end;
  }
  return 'is truncated (the PNG has no IEND chunk)';
}

/** SOFn markers (not DHT C4, JPG C8, DAC CC). */
const isStartOfFrame = (marker: number) => marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);

function checkJpeg(bytes: Buffer): StructureProblem {
  if (bytes[0] !== 0xff || bytes[1] !== 0xd8) return 'is not a JPEG (bad signature)';
  let offset = 2;
  let sawFrame = false;
  while (offset + 4 <= bytes.length) {
    if (bytes[offset] !== 0xff) return 'is corrupt (a JPEG segment does not start with a marker)';
    const marker = bytes.readUInt8(offset + 1);
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    if (marker === 0xd9) return 'is corrupt (the JPEG ends before its image data)';
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      offset += 2;
      continue;
    }
    const length = bytes.readUInt16BE(offset + 2);
    if (length < 2 || offset + 2 + length > bytes.length) return 'is truncated (a JPEG segment runs past the end)';
    const data = bytes.subarray(offset + 4, offset + 2 + length);
    if (isStartOfFrame(marker)) {
      sawFrame = true;
      const precision = data[0];
      const components = data[5];
      if (precision !== 8) return `is a ${precision}-bit JPEG; send 8 bits per channel`;
      if (components === 4) return 'is a CMYK JPEG; send an RGB or grayscale image';
      if (components !== 1 && components !== 3)
        return `is a JPEG with ${components} color components; send RGB or grayscale`;
    }
    if (marker === 0xda) {
      if (!sawFrame) return 'is corrupt (JPEG image data before its frame header)';
      // Entropy-coded data escapes 0xFF as FF 00, so the next FF D9 is the end of the image.
      return bytes.indexOf(Buffer.from([0xff, 0xd9]), offset + 2 + length) < 0
        ? 'is truncated (the JPEG has no end marker)'
        : undefined;
    }
    offset += 2 + length;
  }
  return 'is truncated (the JPEG has no image data)';
}

function checkWebp(bytes: Buffer): StructureProblem {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WEBP') {
    return 'is not a WebP (bad signature)';
  }
  const riffEnd = 8 + bytes.readUInt32LE(4);
  if (riffEnd > bytes.length) return 'is truncated (the WebP is shorter than its RIFF header says)';
  let offset = 12;
  let sawImage = false;
  while (offset + 8 <= riffEnd) {
    const type = bytes.toString('latin1', offset, offset + 4);
    const size = bytes.readUInt32LE(offset + 4);
    const end = offset + 8 + size + (size & 1);
    if (offset + 8 + size > riffEnd) return `is truncated (its WebP ${JSON.stringify(type)} chunk runs past the end)`;
    if (type === 'VP8X' && size >= 1 && (bytes.readUInt8(offset + 8) & 0x02) !== 0)
      return 'is an animated WebP; send a single still image';
    if (type === 'ANIM' || type === 'ANMF') return 'is an animated WebP; send a single still image';
    if (type === 'VP8 ' || type === 'VP8L') sawImage = true;
    offset = end;
  }
  return sawImage ? undefined : 'is corrupt (a WebP without image data)';
}

/** Checks the container of an image whose type was already recognised from its header. */
export function checkImageStructure(bytes: Buffer, type: 'png' | 'jpg' | 'webp'): StructureProblem {
  if (type === 'png') return checkPng(bytes);
  if (type === 'jpg') return checkJpeg(bytes);
  return checkWebp(bytes);
}
