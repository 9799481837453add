/**
 * Canny edges with the semantics of OpenCV's `cv2.Canny(img, low, high)` (aperture 3,
 * L2gradient=false) on the RGB array, which is how lllyasviel's ControlNet annotator and
 * diffusers' examples call it. On a 3-channel image cv2 takes, per pixel, the gradient of the
 * channel with the largest magnitude (the first on ties); on a grey image that is plain Canny.
 */
import type { RgbImage } from '../raster.js';

/** tan(22.5°) = √2 − 1 in cv2's 15-bit fixed point (13573); cv2 takes tan(67.5°) as tan(22.5°) + 2. */
const CANNY_SHIFT = 15;
const TG22 = Math.round((Math.SQRT2 - 1) * (1 << CANNY_SHIFT));

/** Not an edge / candidate (kept only if hysteresis reaches it) / edge — cv2's map states. */
const NOT_EDGE = 1;
const CANDIDATE = 0;
const EDGE = 2;

interface Gradients {
  dx: Int16Array;
  dy: Int16Array;
  /** |dx| + |dy| on a grid with a one-pixel zero border: row stride width + 2. */
  magnitude: Int32Array;
}

/**
 * 3×3 Sobel per channel with the border replicated (cv2 uses BORDER_REPLICATE in Canny); keeps
 * the channel whose L1 magnitude is largest.
 */
function sobelGradients(image: RgbImage): Gradients {
  const { width, height, pixels } = image;
  const stride = width + 2;
  const dx = new Int16Array(width * height);
  const dy = new Int16Array(width * height);
  const magnitude = new Int32Array(stride * (height + 2));
  for (let y = 0; y < height; y++) {
    const up = Math.max(y - 1, 0) * width * 3;
    const row = y * width * 3;
    const down = Math.min(y + 1, height - 1) * width * 3;
    for (let x = 0; x < width; x++) {
      const left = Math.max(x - 1, 0) * 3;
      const centre = x * 3;
      const right = Math.min(x + 1, width - 1) * 3;
      let bestMagnitude = -1;
      let bestDx = 0;
      let bestDy = 0;
      for (let c = 0; c < 3; c++) {
        const tl = pixels[up + left + c];
        const tc = pixels[up + centre + c];
        const tr = pixels[up + right + c];
        const ml = pixels[row + left + c];
        const mr = pixels[row + right + c];
        const bl = pixels[down + left + c];
        const bc = pixels[down + centre + c];
        const br = pixels[down + right + c];
        const gx = tr + 2 * mr + br - (tl + 2 * ml + bl);
        const gy = bl + 2 * bc + br - (tl + 2 * tc + tr);
        const m = Math.abs(gx) + Math.abs(gy);
        if (m > bestMagnitude) {
          bestMagnitude = m;
          bestDx = gx;
          bestDy = gy;
        }
      }
      dx[y * width + x] = bestDx;
      dy[y * width + x] = bestDy;
      magnitude[(y + 1) * stride + x + 1] = bestMagnitude;
    }
  }
  return { dx, dy, magnitude };
}

/**
 * Whether the magnitude at `at` is a local maximum across the edge, in one of 4 directions
 * picked by cv2's fixed-point tangent test. The asymmetric `>` / `>=` are cv2's: they keep one
 * of two equal neighbours, so a plateau gives a 1-pixel line.
 */
function isLocalMaximum(magnitude: Int32Array, at: number, stride: number, gx: number, gy: number): boolean {
  const m = magnitude[at];
  const x = Math.abs(gx);
  const y = Math.abs(gy) << CANNY_SHIFT;
  const tg22x = x * TG22;
  if (y < tg22x) return m > magnitude[at - 1] && m >= magnitude[at + 1]; // horizontal gradient
  const tg67x = tg22x + (x << (CANNY_SHIFT + 1));
  if (y > tg67x) return m > magnitude[at - stride] && m >= magnitude[at + stride]; // vertical
  const s = (gx ^ gy) < 0 ? -1 : 1; // diagonal: same signs → ↖/↘ neighbours, else ↗/↙
  return m > magnitude[at - stride - s] && m > magnitude[at + stride + s];
}

/**
 * The edge map as one byte per pixel (255 edge, 0 not). `low` and `high` are compared with the
 * integer L1 magnitude as cv2 does: candidates need magnitude > floor(low), seeds > floor(high).
 */
export function cannyEdgePlane(image: RgbImage, low: number, high: number): Uint8Array {
  const { width, height } = image;
  const stride = width + 2;
  const lowBound = Math.floor(low);
  const highBound = Math.floor(high);
  const { dx, dy, magnitude } = sobelGradients(image);

  // The map has the same one-pixel border as `magnitude`, never an edge, so hysteresis needs no
  // bounds checks.
  const map = new Uint8Array(stride * (height + 2)).fill(NOT_EDGE);
  const stack = new Int32Array(width * height);
  let top = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = (y + 1) * stride + x + 1;
      const m = magnitude[at];
      if (m <= lowBound) continue;
      if (!isLocalMaximum(magnitude, at, stride, dx[y * width + x], dy[y * width + x])) continue;
      if (m > highBound) {
        map[at] = EDGE;
        stack[top++] = at;
      } else {
        map[at] = CANDIDATE;
      }
    }
  }

  // Hysteresis: grow every strong edge through 8-connected candidates.
  const neighbours = [-stride - 1, -stride, -stride + 1, -1, 1, stride - 1, stride, stride + 1];
  while (top > 0) {
    const at = stack[--top];
    for (const offset of neighbours) {
      const next = at + offset;
      if (map[next] === CANDIDATE) {
        map[next] = EDGE;
        stack[top++] = next;
      }
    }
  }

  const edges = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (map[(y + 1) * stride + x + 1] === EDGE) edges[y * width + x] = 255;
    }
  }
  return edges;
}
