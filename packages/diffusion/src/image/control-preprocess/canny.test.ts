import { describe, expect, it } from 'vitest';
import type { RgbImage } from '../raster.js';
import { cannyEdgePlane } from './canny.js';

function image(width: number, height: number, colour: (x: number, y: number) => number[]): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 3);
  return { width, height, pixels };
}

function grey(width: number, height: number, value: (x: number, y: number) => number): RgbImage {
  return image(width, height, (x, y) => {
    const v = value(x, y);
    return [v, v, v];
  });
}

/** "x,y" of every edge pixel, sorted, so failures show the coordinates. */
function edgePixels(plane: Uint8Array, width: number): string[] {
  const out: string[] = [];
  plane.forEach((v, i) => {
    if (v === 255) out.push(`${i % width},${Math.floor(i / width)}`);
    else expect(v).toBe(0);
  });
  return out.sort();
}

/** np.unpackbits (most significant bit first) of a base64 bitmap, as 0/255 bytes. */
function unpackBits(base64: string, count: number): Uint8Array {
  const bytes = Buffer.from(base64, 'base64');
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = (bytes[i >> 3] >> (7 - (i & 7))) & 1 ? 255 : 0;
  return out;
}

describe('cannyEdgePlane (cv2.Canny semantics)', () => {
  it('outlines a filled square with a closed 1-px line: outside on the top/left sides, inside on the bottom/right', () => {
    // A 255 square over 4 ≤ x, y ≤ 11 on black. Along a side, the 3×3 Sobel gives the same
    // magnitude (4·255) on the two pixels that straddle the step; cv2's NMS keeps the first of
    // the pair in scan direction (`m > previous && m >= next`): x = 3 and y = 3 (outside) on the
    // left and top, x = 11 and y = 11 (inside) on the right and bottom. At each corner the
    // diagonal pixel where both sides meet has the largest magnitude (6·255 against 2·255 and
    // 4·255 around it): the top-left one is (4, 4), one step inside the two outside sides, and
    // (3, 4), (4, 3), (3, 3) lose to it; the other corners lie on the inside lines.
    const square = grey(16, 16, (x, y) => (x >= 4 && x <= 11 && y >= 4 && y <= 11 ? 255 : 0));
    const expected: string[] = ['4,4'];
    for (let i = 5; i <= 10; i++) expected.push(`${i},3`, `3,${i}`);
    for (let i = 4; i <= 11; i++) expected.push(`11,${i}`, `${i},11`);
    const unique = [...new Set(expected)].sort();
    expect(unique).toHaveLength(28);
    expect(edgePixels(cannyEdgePlane(square, 100, 200), 16)).toEqual(unique);
  });

  it('finds nothing on a flat image, whatever the thresholds', () => {
    expect(
      edgePixels(
        cannyEdgePlane(
          grey(9, 7, () => 137),
          0,
          0,
        ),
        9,
      ),
    ).toEqual([]);
  });

  it('ignores a ramp whose gradient is below the low threshold, and finds it once the thresholds drop', () => {
    // 12 grey levels per pixel: |dx| = (1 + 2 + 1)·2·12 = 96 inside; 48 on the replicated
    // border columns. On the plateau nothing is a strict maximum except x = 1, the first pixel
    // past the weaker border column.
    const ramp = grey(16, 6, (x) => 12 * x);
    expect(edgePixels(cannyEdgePlane(ramp, 100, 200), 16)).toEqual([]);
    expect(edgePixels(cannyEdgePlane(ramp, 96, 96), 16)).toEqual([]); // needs magnitude > threshold
    expect(edgePixels(cannyEdgePlane(ramp, 50, 95), 16)).toEqual(['1,0', '1,1', '1,2', '1,3', '1,4', '1,5']);
  });

  it('keeps a weak edge connected to a strong one and drops an isolated weak one (hysteresis)', () => {
    // Left: a step at x = 4|5 that is 255 high above y = 8 (strong: 4·255 > 200) and 30 high
    // below (weak: 4·30 = 120 is between 100 and 200). The weak part (x = 4, rows 9..15) touches
    // the strong part, so it stays. Right: a 30-high block at x ≥ 16, y ≥ 11, apart from
    // anything strong: its sides (120) and its corner (6·30 = 180) are all weak, all dropped.
    const value = (x: number, y: number): number => {
      if (x >= 5 && x <= 9) return y < 8 ? 255 : 30;
      if (x >= 16 && y >= 11) return 30;
      return 0;
    };
    const edges = new Set(edgePixels(cannyEdgePlane(grey(22, 16, value), 100, 200), 22));
    for (let y = 9; y <= 15; y++) expect(edges.has(`4,${y}`), `4,${y}`).toBe(true);
    expect([...edges].filter((p) => Number(p.split(',')[0]) >= 12)).toEqual([]);

    // The same weak step without a strong part above it: nothing reaches it.
    const weakOnly = grey(22, 16, (x, y) => (x >= 5 && x <= 9 && y >= 8 ? 30 : 0));
    expect(edgePixels(cannyEdgePlane(weakOnly, 100, 200), 22)).toEqual([]);
    // …and with a high threshold below 120 the block's sides are strong on their own.
    const lowHigh = new Set(edgePixels(cannyEdgePlane(grey(22, 16, value), 100, 110), 22));
    expect(lowHigh.has('15,13')).toBe(true); // the block's left side, outside (x = 15)
  });

  it('takes the strongest channel, as cv2 does on the RGB array: equal-luma colours still give an edge', () => {
    // (200, 0, 0) and (0, 102, 0) have the same ITU-R 601 luma (≈ 60), so Canny on the grey
    // image would find nothing; cv2 on RGB sees a 200-high step in red.
    const halves = image(10, 6, (x) => (x < 5 ? [200, 0, 0] : [0, 102, 0]));
    expect(edgePixels(cannyEdgePlane(halves, 100, 200), 10)).toEqual(['4,0', '4,1', '4,2', '4,3', '4,4', '4,5']);
  });

  it('equals OpenCV 4.6 cv2.Canny on a synthetic colour image (disc, ramps, a dark line, noise, image borders)', () => {
    // Reference bitmaps made with Debian's python3-opencv 4.6.0:
    //   y, x = np.mgrid[0:40, 0:48]
    //   r = np.where((x - 20) ** 2 + (y - 16) ** 2 < 144, 230, 20 + 4 * x)
    //   g = 60 + (((x + 2 * y) % 32) * 9) // 2
    //   b = 130 + (x * y * 37 + x * 11) % 24 - 3 * y
    //   img = np.stack([r, g, b], -1).astype(np.uint8); img[np.abs(x - y - 5) <= 1] = 15
    //   base64.b64encode(np.packbits(cv2.Canny(img, lo, hi).ravel() > 0))
    const img = image(48, 40, (x, y) => {
      if (Math.abs(x - y - 5) <= 1) return [15, 15, 15];
      const r = (x - 20) ** 2 + (y - 16) ** 2 < 144 ? 230 : 20 + 4 * x;
      const g = 60 + Math.floor((((x + 2 * y) % 32) * 9) / 2);
      const b = 130 + ((x * y * 37 + x * 11) % 24) - 3 * y;
      return [r, g, b];
    });
    const references: [number, number, number, string][] = [
      [
        100,
        200,
        258,
        'CQAAAQAADYAABgAABMAAGAAAAmAAYAAAARB5gAAAAMmGwAAAAGYYMAAAADJgGAAAAAkADAABACiABgAGACRAAgAYAGIgAQBgAcEQAQGABoCIAQYAGIBEARgA4IAiAGAAAIARAYAAAIAIhgAAAIAEWQAAAIACIQAAAEABEQAAAEAGiQAAACAYRAAAADBgJgAAABmAEwABAA4ACYAGAB4ANEAYAGGAwyBgAYB/AZGABgAAANoAGAAAAEwA4AAAAGYAAAAAAZMAAAAABgmAAAAAGATAAAAAYAJgAAABgAEwAAAGAACYAAAYAABMAAAgAAAk',
      ],
      [
        20,
        60,
        276,
        'yQgAQQgAjYAABgADBMAAGAAAAmAAYAAAARB5gAAAAMmGwAAAAGYYMAAAADJgGAAAAAkADAABACiABgAGACRAAgAYAGIgAQBgAcEQAQGABoCIQQYAGIBEARgA4IAiAGAAAIARAYAAAIAIhgAAAIAEWQAAAIACIQAAAEABEQAAAEAGiQAAACAYRAAAADBgJgAAYBmAEwoBAA4ACYAGAB4ANEAYAGGAwyBgAYB/AZGABgAAANoAGAAAAEwA4AAAAGYAAAAAAZMAAAAABgmAAAAAGATAAAAAYAJgAAABgAEwQAAGAACYQAAYAABMgBAgABAk',
      ],
    ];
    for (const [low, high, count, bits] of references) {
      const reference = unpackBits(bits, 48 * 40);
      expect(reference.filter((v) => v === 255)).toHaveLength(count);
      expect(cannyEdgePlane(img, low, high), `thresholds ${low}/${high}`).toEqual(reference);
    }
  });
});
