import { describe, expect, it } from 'vitest';
import { decodeToRgb, encodeImage } from './encode-image.js';

const pixels = Uint8Array.from({ length: 16 * 8 * 3 }, (_, i) => (i * 37) % 256);

describe('encodeImage', () => {
  it('PNG round-trips the exact pixels', async () => {
    const png = await encodeImage(pixels, 16, 8, 'png');
    expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join('')).toBe('PNG');
    const back = await decodeToRgb(png);
    expect(back.width).toBe(16);
    expect(back.height).toBe(8);
    expect(Buffer.from(back.pixels).equals(Buffer.from(pixels))).toBe(true);
  });

  it('writes decodable JPEG', async () => {
    const jpeg = await encodeImage(pixels, 16, 8, 'jpeg');
    expect(jpeg[0]).toBe(0xff);
    expect(jpeg[1]).toBe(0xd8);
    expect((await decodeToRgb(jpeg)).width).toBe(16);
  });
});
