/**
 * A scribble from a photo without a model: ControlNet 1.1's "scribble_xdog" annotator (also in
 * sd-webui-controlnet and controlnet_aux). Each channel is blurred with σ = 0.5 and σ = 5 as
 * `cv2.GaussianBlur(img.astype(float32), (0, 0), σ)` does; where the wide blur is brighter than
 * the narrow one by more than threshold / 2 in every channel (the pixel is darker than its
 * surroundings: a dark line, or the dark side of an edge) the scribble is white, elsewhere black.
 * The lines come out a few pixels thick, like a marker drawing.
 *
 * One deliberate difference: the reference computes `2 * (255 - dog)` in uint8, which wraps for
 * differences of 128 and more, so the darkest strokes (difference 128..144) vanish from its
 * output. Kiln compares without the wrap.
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

/** Index tables so the inner loops need no border logic: taps[i * size + k] for output i. */
function tapIndices(length: number, radius: number): Int32Array {
  const size = 2 * radius + 1;
  const taps = new Int32Array(length * size);
  for (let i = 0; i < length; i++) {
    for (let k = 0; k < size; k++) taps[i * size + k] = reflect101(i + k - radius, length);
  }
  return taps;
}

/** Separable blur of one interleaved channel of `image` into a float plane. */
function blurChannel(image: RgbImage, channel: number, kernel: Float64Array): Float64Array {
  const { width, height, pixels } = image;
  const size = kernel.length;
  const radius = (size - 1) / 2;
  const columns = tapIndices(width, radius);
  const rows = tapIndices(height, radius);
  const horizontal = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    const base = y * width * 3 + channel;
    for (let x = 0; x < width; x++) {
      let acc = 0;
      for (let k = 0; k < size; k++) acc += pixels[base + columns[x * size + k] * 3] * kernel[k];
      horizontal[y * width + x] = acc;
    }
  }
  const out = new Float64Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let k = 0; k < size; k++) {
      const from = rows[y * size + k] * width;
      const weight = kernel[k];
      for (let x = 0; x < width; x++) out[y * width + x] += horizontal[from + x] * weight;
    }
  }
  return out;
}

/** The scribble as one byte per pixel (255 stroke, 0 background). */
export function scribblePlane(image: RgbImage, threshold = SCRIBBLE_XDOG_THRESHOLD): Uint8Array {
  const narrow = cv2GaussianKernel(NARROW_SIGMA);
  const wide = cv2GaussianKernel(WIDE_SIGMA);
  const count = image.width * image.height;
  const darkness = new Float64Array(count).fill(Infinity);
  for (let c = 0; c < 3; c++) {
    const sharp = blurChannel(image, c, narrow);
    const soft = blurChannel(image, c, wide);
    for (let i = 0; i < count; i++) darkness[i] = Math.min(darkness[i], soft[i] - sharp[i]);
  }
  const strokes = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    // The reference's `dog = uint8(clip(255 - darkness))` truncates; 255 - dog is the integer
    // darkness, clipped to 0..255.
    const dog = Math.trunc(Math.min(Math.max(255 - darkness[i], 0), 255));
    if (2 * (255 - dog) > threshold) strokes[i] = 255;
  }
  return strokes;
}
