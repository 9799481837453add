/**
 * A scribble from a photo without a model: ControlNet 1.1's "scribble_xdog" annotator (also in
 * sd-webui-controlnet and controlnet_aux). Each channel is blurred with σ = 0.5 and σ = 5 as
 * `cv2.GaussianBlur(img.astype(float32), (0, 0), σ)` does; where the wide blur is brighter than
 * the narrow one by more than threshold / 2 in every channel (the pixel is darker than its
 * surroundings: a dark line, or the dark side of an edge) the scribble is white, elsewhere black.
 * Dark lines keep their width; a step from dark to light gives a band about 8 px wide on its
 * dark side, like a marker stroke.
 *
 * One deliberate difference: the reference computes `2 * (255 - dog)` in uint8, which wraps for
 * differences of 128 and more, so pixels with a difference of 128..144 drop out of its strokes.
 * Kiln compares without the wrap.
 */
import type { RgbImage } from '../raster.js';

/** The annotator's default threshold (its slider runs 1..64). */
export const SCRIBBLE_XDOG_THRESHOLD = 32;

const NARROW_SIGMA = 0.5;
const WIDE_SIGMA = 5;

/** cv2.getGaussianKernel for σ > 0 at the size GaussianBlur picks for float images (8σ + 1, odd). */
function cv2GaussianKernel(sigma: number): Float64Array {
  const size = Math.round(sigma * 4 * 2 + 1) | 1;
  const kernel = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = i - (size - 1) / 2;
    kernel[i] = Math.exp((-0.5 / (sigma * sigma)) * x * x);
    sum += kernel[i];
  }
  for (let i = 0; i < size; i++) kernel[i] /= sum;
  return kernel;
}

/** cv2's BORDER_REFLECT_101 (its default): …2 1 | 0 1 2 … n-1 | n-2 …, repeated for short rows. */
function reflect101(p: number, length: number): number {
  if (length === 1) return 0;
  while (p < 0 || p >= length) p = p < 0 ? -p : 2 * length - 2 - p;
  return p;
}

/**
 * Horizontal pass of the separable blur on all three interleaved channels, stored in float32 as
 * cv2's row filter stores it. The kernel is symmetric, so mirrored taps are added before the
 * multiply; each row is padded once with the reflected border so the inner loop has no
 * border logic.
 */
function blurRows(image: RgbImage, kernel: Float64Array): Float32Array {
  const { width, height, pixels } = image;
  const radius = (kernel.length - 1) / 2;
  const centre = kernel[radius];
  const padded = new Float64Array((width + 2 * radius) * 3);
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let i = 0; i < width + 2 * radius; i++) {
      const from = row + reflect101(i - radius, width) * 3;
      padded[i * 3] = pixels[from];
      padded[i * 3 + 1] = pixels[from + 1];
      padded[i * 3 + 2] = pixels[from + 2];
    }
    for (let j = 0; j < width * 3; j++) {
      const c = j + radius * 3;
      let acc = padded[c] * centre;
      for (let k = 1; k <= radius; k++) acc += (padded[c - 3 * k] + padded[c + 3 * k]) * kernel[radius + k];
      out[row + j] = acc;
    }
  }
  return out;
}

/** Vertical pass for output row `y` of a `blurRows` result into `into` (width × 3 values). */
function blurColumnsAt(
  rows: Float32Array,
  width: number,
  height: number,
  y: number,
  kernel: Float64Array,
  into: Float64Array,
): void {
  const radius = (kernel.length - 1) / 2;
  const stride = width * 3;
  const centre = kernel[radius];
  const row = y * stride;
  for (let j = 0; j < stride; j++) into[j] = rows[row + j] * centre;
  for (let k = 1; k <= radius; k++) {
    const above = reflect101(y - k, height) * stride;
    const below = reflect101(y + k, height) * stride;
    const weight = kernel[radius + k];
    for (let j = 0; j < stride; j++) into[j] += (rows[above + j] + rows[below + j]) * weight;
  }
}

/** The scribble as one byte per pixel (255 stroke, 0 background). */
export function scribblePlane(image: RgbImage, threshold = SCRIBBLE_XDOG_THRESHOLD): Uint8Array {
  const { width, height } = image;
  const narrowKernel = cv2GaussianKernel(NARROW_SIGMA);
  const wideKernel = cv2GaussianKernel(WIDE_SIGMA);
  const narrowRows = blurRows(image, narrowKernel);
  const wideRows = blurRows(image, wideKernel);
  const narrow = new Float64Array(width * 3);
  const wide = new Float64Array(width * 3);
  const strokes = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    blurColumnsAt(narrowRows, width, height, y, narrowKernel, narrow);
    blurColumnsAt(wideRows, width, height, y, wideKernel, wide);
    for (let x = 0; x < width; x++) {
      const i = x * 3;
      // Both blurs are float32 images in the reference; round them the same way.
      const darkness = Math.min(
        Math.fround(wide[i]) - Math.fround(narrow[i]),
        Math.fround(wide[i + 1]) - Math.fround(narrow[i + 1]),
        Math.fround(wide[i + 2]) - Math.fround(narrow[i + 2]),
      );
      // The reference's `dog = uint8(clip(255 - darkness))` truncates; 255 - dog is the
      // integer darkness, clipped to 0..255.
      const dog = Math.trunc(Math.min(Math.max(255 - darkness, 0), 255));
      if (2 * (255 - dog) > threshold) strokes[y * width + x] = 255;
    }
  }
  return strokes;
}
