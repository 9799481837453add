import { describe, expect, it } from 'vitest';
import { blendByMask } from './composite.js';
import { expandToAspect, maskBoundingBox } from './crop-region.js';
import { gaussianBlurPlane } from './gaussian-blur.js';
import { outpaintPrefill } from './outpaint-prefill.js';
import { cropRgb, lumaOf, pasteRgb, uniformMask, type MaskPlane, type RgbImage } from './raster.js';

function image(width: number, height: number, colour: (x: number, y: number) => number[]): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 3);
  return { width, height, pixels };
}

function rectMask(width: number, height: number, x1: number, y1: number, x2: number, y2: number): MaskPlane {
  const mask = uniformMask(width, height, 0);
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) mask.values[y * width + x] = 1;
  return mask;
}

describe('gaussianBlurPlane', () => {
  it('keeps the total of an interior impulse and spreads it symmetrically', () => {
    const plane = new Float32Array(31 * 31);
    plane[15 * 31 + 15] = 1;
    const out = gaussianBlurPlane(plane, 31, 31, 2);
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(out[15 * 31 + 13]).toBeCloseTo(out[15 * 31 + 17], 7);
    expect(out[15 * 31 + 15]).toBeLessThan(0.05);
    expect(gaussianBlurPlane(plane, 31, 31, 0)).toEqual(plane);
  });
});

describe('crop region (inpaint at full resolution)', () => {
  it('finds the padded bounding box of the mask and grows it to the output aspect ratio inside the image', () => {
    const mask = rectMask(64, 64, 40, 10, 50, 14);
    expect(maskBoundingBox(mask, 0)).toEqual({ x1: 40, y1: 10, x2: 50, y2: 14 });
    const padded = maskBoundingBox(mask, 4)!;
    expect(padded).toEqual({ x1: 36, y1: 6, x2: 54, y2: 18 });
    const square = expandToAspect(padded, 64, 64, 64, 64);
    expect(square.x2 - square.x1).toBe(square.y2 - square.y1);
    expect(square).toEqual({ x1: 36, y1: 3, x2: 54, y2: 21 });
    // near an edge the region is shifted back inside
    expect(expandToAspect({ x1: 0, y1: 0, x2: 20, y2: 4 }, 64, 64, 64, 64)).toEqual({ x1: 0, y1: 0, x2: 20, y2: 20 });
    expect(maskBoundingBox(uniformMask(8, 8, 0), 4)).toBeUndefined();
  });
});

describe('blendByMask (paste the original back)', () => {
  it('is the original where the mask is 0, the render where it is 1, a mix in between', () => {
    const original = image(4, 1, () => [100, 100, 100]);
    const generated = image(4, 1, () => [200, 0, 50]);
    const alpha: MaskPlane = { width: 4, height: 1, values: Float32Array.from([0, 1, 0.5, 0.25]) };
    const out = blendByMask(original, generated, alpha);
    expect([...out.pixels]).toEqual([100, 100, 100, 200, 0, 50, 150, 50, 75, 125, 75, 88]);
  });
});

describe('raster helpers', () => {
  it('crops and pastes regions, and computes PIL luma', () => {
    const src = image(8, 8, (x, y) => [x, y, x + y]);
    const crop = cropRgb(src, { x1: 2, y1: 3, x2: 5, y2: 7 });
    expect([crop.width, crop.height]).toEqual([3, 4]);
    expect([...crop.pixels.subarray(0, 3)]).toEqual([2, 3, 5]);
    const back = pasteRgb(
      image(8, 8, () => [0, 0, 0]),
      crop,
      2,
      3,
    );
    expect([...back.pixels.subarray((3 * 8 + 2) * 3, (3 * 8 + 2) * 3 + 3)]).toEqual([2, 3, 5]);
    expect(lumaOf(image(1, 1, () => [255, 255, 255])).values[0]).toBe(1);
    expect(Math.round(lumaOf(image(1, 1, () => [255, 0, 0])).values[0] * 255)).toBe(76);
  });
});

describe('outpaintPrefill', () => {
  const width = 64;
  const height = 64;
  // A picture in the middle (left half orange, right half teal) on a white canvas; the border is masked.
  const canvas = image(width, height, (x, y) =>
    x < 16 || x >= 48 || y < 16 || y >= 48 ? [255, 255, 255] : x < 32 ? [230, 120, 20] : [20, 160, 170],
  );
  const mask = rectMask(width, height, 0, 0, width, height);
  for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) mask.values[y * width + x] = 0;
  const filled = outpaintPrefill(canvas, mask);
  const at = (x: number, y: number) => [...filled.pixels.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)];

  it('never changes a known pixel', () => {
    for (let y = 16; y < 48; y++)
      for (let x = 16; x < 48; x++)
        expect(at(x, y)).toEqual([...canvas.pixels.subarray((y * width + x) * 3, (y * width + x) * 3 + 3)]);
  });

  it("continues the picture's colours into the border instead of the canvas white", () => {
    const [r, , b] = at(20, 4); // above the orange half
    expect(r).toBeGreaterThan(150);
    expect(b).toBeLessThan(120);
    const [r2, , b2] = at(44, 60); // below the teal half
    expect(b2).toBeGreaterThan(100);
    expect(r2).toBeLessThan(120);
  });

  it('is deterministic (fixed-seed noise) and textured', () => {
    expect(Buffer.from(outpaintPrefill(canvas, mask).pixels).equals(Buffer.from(filled.pixels))).toBe(true);
    expect(at(2, 2)).not.toEqual(at(3, 2));
  });
});
