import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../raster.js';
import { scribblePlane } from './scribble.js';

function image(width: number, height: number, colour: (x: number, y: number) => number[]): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 3);
  return { width, height, pixels };
}

/** The columns that are strokes in every row (the test images are constant down each column). */
function strokeColumns(plane: Uint8Array, width: number, height: number): number[] {
  const columns: number[] = [];
  for (let x = 0; x < width; x++) {
    const column = Array.from({ length: height }, (_, y) => plane[y * width + x]);
    expect(new Set(column).size, `column ${x} is uniform`).toBe(1);
    expect([0, 255]).toContain(column[0]);
    if (column[0] === 255) columns.push(x);
  }
  return columns;
}

const WHITE = [255, 255, 255];
const BLACK = [0, 0, 0];

describe('scribblePlane (ControlNet 1.1 scribble_xdog)', () => {
  it('draws nothing on a flat image', () => {
    expect(scribblePlane(image(30, 20, () => [90, 140, 200])).every((v) => v === 0)).toBe(true);
  });

  it('turns a 1-px dark line into a 1-px white stroke', () => {
    // On the line the narrow blur keeps it dark (255·(1 − 0.787) ≈ 54) while the wide one
    // (σ = 5) is nearly white (≈ 235): difference ≈ 180 > 16. One pixel off it the narrow blur
    // reaches ≈ 228 against ≈ 235: 7 < 16. Further out the wide blur is the darker one.
    const line = image(41, 9, (x) => (x === 20 ? BLACK : WHITE));
    expect(strokeColumns(scribblePlane(line), 41, 9)).toEqual([20]);
  });

  it('marks a thick band on the dark side of a step, nothing on the bright side', () => {
    // Black for x < 20, white from 20. On the dark side the wide blur picks up the white within
    // ~1.5σ: ≈ 117 at x = 19 and ≈ 47 at x = 15, both well above 16; 13 px from the step it is
    // ≈ 1.6. On the bright side the wide blur is always the darker one.
    const step = image(41, 5, (x) => (x < 20 ? BLACK : WHITE));
    const columns = strokeColumns(scribblePlane(step), 41, 5);
    expect(columns).toContain(19);
    expect(columns).toContain(15);
    expect(columns).not.toContain(7);
    expect(columns.filter((x) => x >= 20)).toEqual([]);
    // Contiguous: one thick stroke, not scattered pixels.
    expect(columns).toEqual(Array.from({ length: columns.length }, (_, i) => columns[0] + i));
  });

  it('needs a stroke darker than its surroundings in every channel', () => {
    // A red line on white is dark in green and blue only, a cyan one in red only; the channel
    // that stays 255 everywhere has difference 0, and the minimum over channels is 0.
    for (const colour of [
      [255, 0, 0],
      [0, 255, 255],
    ]) {
      const line = image(41, 5, (x) => (x >= 19 && x <= 21 ? colour : WHITE));
      expect(strokeColumns(scribblePlane(line), 41, 5), String(colour)).toEqual([]);
    }
    const black = image(41, 5, (x) => (x >= 19 && x <= 21 ? BLACK : WHITE));
    expect(strokeColumns(scribblePlane(black), 41, 5)).toEqual([19, 20, 21]);
  });

  it('keeps a 6-px black band solid where the reference uint8 arithmetic would wrap', () => {
    // In the band's middle the difference is ≈ 141; the annotator's `2 * (255 - dog)` in uint8
    // gives 282 − 256 = 26 ≤ 32 there and drops x = 19, 20 (checked with cv2 4.6: its output is
    // 1 1 0 0 1 1 over x = 17..22). Kiln compares without the wrap.
    const band = image(41, 9, (x) => (x >= 17 && x <= 22 ? BLACK : WHITE));
    expect(strokeColumns(scribblePlane(band), 41, 9)).toEqual([17, 18, 19, 20, 21, 22]);
  });

  it('equals the annotator (cv2 4.6 GaussianBlur in float32, without the uint8 wrap) on a synthetic colour image', () => {
    // The image of the cv2.Canny reference test (canny.test.ts), and:
    //   g1 = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.5); g2 = … 5.0
    //   dog = (255 - np.min(g2 - g1, axis=2)).clip(0, 255).astype(np.uint8)
    //   base64.b64encode(np.packbits(2 * (255 - dog.astype(np.int32)) > 32))
    const img = image(48, 40, (x, y) => {
      if (Math.abs(x - y - 5) <= 1) return [15, 15, 15];
      const r = (x - 20) ** 2 + (y - 16) ** 2 < 144 ? 230 : 20 + 4 * x;
      const g = 60 + Math.floor((((x + 2 * y) % 32) * 9) / 2);
      const b = 130 + ((x * y * 37 + x * 11) % 24) - 3 * y;
      return [r, g, b];
    });
    const bits = Buffer.from(
      'DgAAAAAABwAAAAAAA4AAAAAAAcAAAAAAAOAAAAAAAHAAAAAAADgAAAAAABwAAAAAAA4AAAAAAAcAAAAAAAOAAAAAAAHAAAAAAADgAAAAAABwAAAAAAA4AAAAAAAcAAAAAAAOAAAAAAAHAAAAAAADgAAAAAABwAAAAAAA4AAAAAAAcAAAAAAAOAAAAAAAHAAAAAAADgAAAAAABwAAAAAAA4AAAAAAAcAAAAAAAOAAAAAAAHAAAAAAADgAAAAAABwAAAAAAA4AAAAAAAcAAAAAAAOAAAAAAACAAAAAAADAAAAAAAAwAAAAAAAQAAAAAAAI',
      'base64',
    );
    const reference = Uint8Array.from({ length: 48 * 40 }, (_, i) => ((bits[i >> 3] >> (7 - (i & 7))) & 1 ? 255 : 0));
    expect(reference.filter((v) => v === 255)).toHaveLength(112);
    expect(scribblePlane(img)).toEqual(reference);
  });
});
