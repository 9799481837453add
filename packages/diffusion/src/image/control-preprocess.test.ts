import { describe, expect, it } from 'vitest';
import { RenderInputError } from '../errors.js';
import {
  CONTROL_PREPROCESSORS,
  isControlPreprocessor,
  preprocessConditioningImage,
  type ControlPreprocessor,
} from './control-preprocess.js';
import type { RgbImage } from './raster.js';

function image(width: number, height: number, colour: (x: number, y: number) => number[]): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 3);
  return { width, height, pixels };
}

/** A grey ramp of 13 levels per pixel: Sobel |dx| = 8·13 = 104 inside (see canny.test.ts). */
const ramp = image(16, 6, (x) => [13 * x, 13 * x, 13 * x]);

function edgeCount(out: RgbImage): number {
  let count = 0;
  for (let i = 0; i < out.pixels.length; i += 3) if (out.pixels[i] === 255) count++;
  return count;
}

describe('preprocessConditioningImage', () => {
  it('lists the model-free preprocessors', () => {
    expect(CONTROL_PREPROCESSORS).toEqual(['canny', 'scribble', 'grayscale']);
    expect(isControlPreprocessor('canny')).toBe(true);
    expect(isControlPreprocessor('depth')).toBe(false);
  });

  it('grayscale is Pillow\'s convert("L") luma in all three channels', () => {
    // (r·19595 + g·38470 + b·7471 + 2^15) >> 16: red 76, green 150, blue 29, (10, 20, 30) → 18.
    const colours = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [255, 255, 255],
      [0, 0, 0],
      [10, 20, 30],
    ];
    const out = preprocessConditioningImage(
      image(colours.length, 1, (x) => colours[x]),
      'grayscale',
    );
    expect(out.width).toBe(6);
    expect(out.height).toBe(1);
    expect([...out.pixels]).toEqual([76, 150, 29, 255, 0, 18].flatMap((v) => [v, v, v]));
  });

  it.each(['canny', 'scribble'] as const)(
    '%s returns a black/white image of the input size with equal channels',
    (method) => {
      const input = image(20, 12, (x, y) => (x === y ? [0, 0, 0] : [(x * 40) % 256, 200, 255 - x * 10]));
      const out = preprocessConditioningImage(input, method);
      expect([out.width, out.height, out.pixels.length]).toEqual([20, 12, 20 * 12 * 3]);
      for (let i = 0; i < out.pixels.length; i += 3) {
        expect([0, 255]).toContain(out.pixels[i]);
        expect(out.pixels[i + 1]).toBe(out.pixels[i]);
        expect(out.pixels[i + 2]).toBe(out.pixels[i]);
      }
      expect(edgeCount(out)).toBeGreaterThan(0);
    },
  );

  it('uses the annotator defaults 100/200 for Canny and honours other thresholds', () => {
    // The ramp's 104 is above the default low (100) but below the default high (200): a weak
    // edge with nothing strong to hold it.
    expect(edgeCount(preprocessConditioningImage(ramp, 'canny'))).toBe(0);
    expect(preprocessConditioningImage(ramp, 'canny')).toEqual(
      preprocessConditioningImage(ramp, 'canny', { lowThreshold: 100, highThreshold: 200 }),
    );
    expect(edgeCount(preprocessConditioningImage(ramp, 'canny', { lowThreshold: 50, highThreshold: 103 }))).toBe(6);
    // Only the high threshold given: low stays 100, below the new high.
    expect(edgeCount(preprocessConditioningImage(ramp, 'canny', { highThreshold: 103.9 }))).toBe(6);
  });

  it('refuses thresholds outside 0..255, not numbers, or low above high, naming the option', () => {
    const cases: [object, string][] = [
      [{ lowThreshold: -1 }, 'lowThreshold'],
      [{ highThreshold: 256 }, 'highThreshold'],
      [{ lowThreshold: Number.NaN }, 'lowThreshold'],
      [{ highThreshold: Number.POSITIVE_INFINITY }, 'highThreshold'],
      [{ lowThreshold: 150, highThreshold: 120 }, 'lowThreshold'],
      [{ lowThreshold: 201 }, 'lowThreshold'], // above the default high
    ];
    for (const [options, field] of cases) {
      let error: unknown;
      try {
        preprocessConditioningImage(ramp, 'canny', options);
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(RenderInputError);
      expect((error as RenderInputError).code).toBe('input_rejected');
      expect((error as RenderInputError).field).toBe(field);
    }
    // The bounds themselves are fine, and equal thresholds too.
    expect(() => preprocessConditioningImage(ramp, 'canny', { lowThreshold: 0, highThreshold: 0 })).not.toThrow();
    expect(() => preprocessConditioningImage(ramp, 'canny', { lowThreshold: 255, highThreshold: 255 })).not.toThrow();
  });

  it('refuses an unknown method and a pixel buffer that does not match the size', () => {
    expect(() => preprocessConditioningImage(ramp, 'depth' as ControlPreprocessor)).toThrow(RenderInputError);
    expect(() => preprocessConditioningImage({ width: 4, height: 4, pixels: new Uint8Array(47) }, 'grayscale')).toThrow(
      RangeError,
    );
  });
});
