import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { RenderInputError } from '../errors.js';
import { decodeInitImage, decodeMaskImage } from './decode-image.js';

/** A width × height RGB(A) image whose left half is `left` and right half `right`. */
function halves(width: number, height: number, left: number[], right: number[]): Buffer {
  const channels = left.length;
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(x < width / 2 ? left : right, (y * width + x) * channels);
  }
  return data;
}

const raw = (data: Buffer, width: number, height: number, channels: 3 | 4) =>
  sharp(data, { raw: { width, height, channels } });
const pixelAt = (image: { width: number; pixels: Uint8Array }, x: number, y: number) => [
  ...image.pixels.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3),
];

async function rejection(promise: Promise<unknown>): Promise<RenderInputError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RenderInputError);
  return err as RenderInputError;
}

describe('decodeInitImage', () => {
  it('decodes PNG, JPEG and WebP to RGB at the requested size', async () => {
    const source = raw(halves(16, 8, [255, 0, 0], [0, 0, 255]), 16, 8, 3);
    for (const bytes of [
      await source.clone().png().toBuffer(),
      await source.clone().jpeg({ quality: 95 }).toBuffer(),
      await source.clone().webp({ lossless: true }).toBuffer(),
    ]) {
      const image = await decodeInitImage(bytes, { field: 'init_image', width: 16, height: 8 });
      expect([image.width, image.height, image.pixels.length]).toEqual([16, 8, 16 * 8 * 3]);
      expect(pixelAt(image, 1, 1)[0]).toBeGreaterThan(200);
      expect(pixelAt(image, 14, 6)[2]).toBeGreaterThan(200);
    }
  });

  it('keeps the exact pixels of a PNG already at the output size (no resampling)', async () => {
    const data = Buffer.from(Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 37) % 256));
    const image = await decodeInitImage(await raw(data, 8, 8, 3).png().toBuffer(), {
      field: 'init_image',
      width: 8,
      height: 8,
    });
    expect(Buffer.from(image.pixels).equals(data)).toBe(true);
  });

  it('stretches to width × height when the aspect ratio differs (diffusers resize_mode "default")', async () => {
    const bytes = await raw(halves(32, 8, [255, 0, 0], [0, 0, 255]), 32, 8, 3)
      .png()
      .toBuffer();
    const image = await decodeInitImage(bytes, { field: 'init_image', width: 16, height: 16 });
    expect([image.width, image.height]).toEqual([16, 16]);
    expect(pixelAt(image, 2, 15)).toEqual([255, 0, 0]);
    expect(pixelAt(image, 13, 0)).toEqual([0, 0, 255]);
  });

  it('applies the EXIF orientation (a phone photo comes out upright)', async () => {
    // Stored 16×8, left red / right blue, tagged "rotate 90° clockwise to display" (orientation 6).
    const bytes = await raw(halves(16, 8, [255, 0, 0], [0, 0, 255]), 16, 8, 3)
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const image = await decodeInitImage(bytes, { field: 'init_image', width: 8, height: 16 });
    expect(pixelAt(image, 4, 2)[0]).toBeGreaterThan(200); // the stored left half is now on top
    expect(pixelAt(image, 4, 13)[2]).toBeGreaterThan(200);
  });

  it('flattens alpha onto white', async () => {
    const bytes = await raw(halves(8, 8, [10, 20, 30, 255], [10, 20, 30, 0]), 8, 8, 4)
      .png()
      .toBuffer();
    const image = await decodeInitImage(bytes, { field: 'init_image', width: 8, height: 8 });
    expect(pixelAt(image, 1, 1)).toEqual([10, 20, 30]);
    expect(pixelAt(image, 6, 1)).toEqual([255, 255, 255]);
  });

  it('refuses oversized, bomb-like, undecodable and other-format inputs, naming the field', async () => {
    const png = await raw(halves(64, 64, [1, 2, 3], [4, 5, 6]), 64, 64, 3)
      .png()
      .toBuffer();
    const opts = { field: 'init_image', width: 64, height: 64 };
    expect((await rejection(decodeInitImage(png, { ...opts, limits: { maxBytes: 10 } }))).message).toMatch(
      /over the limit of 10 bytes/,
    );
    const bomb = await rejection(decodeInitImage(png, { ...opts, limits: { maxPixels: 1000 } }));
    expect(bomb).toMatchObject({ code: 'invalid_image', field: 'init_image' });
    expect((await rejection(decodeInitImage(png, { ...opts, limits: { maxSide: 32 } }))).message).toMatch(/per side/);
    const truncated = await rejection(decodeInitImage(png.subarray(0, png.length - 40), opts));
    expect(truncated).toMatchObject({ code: 'invalid_image', field: 'init_image' });
    expect(await rejection(decodeInitImage(Buffer.from('not an image at all'), opts))).toMatchObject({
      field: 'init_image',
    });
    const gif = await raw(halves(8, 8, [1, 2, 3], [4, 5, 6]), 8, 8, 3)
      .gif()
      .toBuffer();
    expect((await rejection(decodeInitImage(gif, opts))).message).toMatch(/gif.*PNG, JPEG or WebP/);
    expect((await rejection(decodeInitImage(new Uint8Array(0), opts))).message).toMatch(/empty/);
  });

  it('refuses a header claiming a huge image before decoding it', async () => {
    const png = await raw(halves(8, 8, [1, 2, 3], [4, 5, 6]), 8, 8, 3)
      .png()
      .toBuffer();
    png.writeUInt32BE(100_000, 16);
    png.writeUInt32BE(100_000, 20);
    const err = await rejection(decodeInitImage(png, { field: 'init_image', width: 64, height: 64 }));
    expect(err.code).toBe('invalid_image');
  });
});

describe('decodeMaskImage', () => {
  it('gives luma in [0, 1] (PIL convert("L")), alpha flattened onto black, resized to the output', async () => {
    const bytes = await raw(halves(8, 4, [255, 255, 255, 255], [255, 255, 255, 0]), 8, 4, 4)
      .png()
      .toBuffer();
    const mask = await decodeMaskImage(bytes, { field: 'mask_image', width: 8, height: 4 });
    expect(mask.values[0]).toBe(1);
    expect(mask.values[7]).toBe(0);
    const grey = await decodeMaskImage(
      await raw(halves(4, 4, [100, 150, 200], [100, 150, 200]), 4, 4, 3)
        .png()
        .toBuffer(),
      {
        field: 'mask_image',
        width: 16,
        height: 16,
      },
    );
    expect(grey.values.length).toBe(256);
    expect(Math.round(grey.values[0] * 255)).toBe(Math.round((100 * 299 + 150 * 587 + 200 * 114) / 1000));
  });

  it('names mask_image when the mask is not an image', async () => {
    const err = await rejection(decodeMaskImage(Buffer.from('nope'), { field: 'mask_image', width: 8, height: 8 }));
    expect(err).toMatchObject({ code: 'invalid_image', field: 'mask_image' });
  });
});
