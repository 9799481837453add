/**
 * Outpainting's pre-fill: before denoising, the masked area (the new border of an enlarged
 * canvas) is painted with a guess that continues the picture, so that image-to-image starts from
 * the picture's own colours rather than from whatever the canvas held (usually flat grey or white).
 *
 * 1. Edge extension: every masked pixel takes the colour of its nearest known pixel (a
 *    breadth-first search from the known area, 4-connected), which stretches the border
 *    pixels outwards.
 * 2. Blur that grows with distance: the extended image is blurred twice, lightly (σ = S/128) and
 *    strongly (σ = S/16, at most 24 px; S = the shorter side); a masked pixel mixes the two by its
 *    distance from the known area (all strong blur from S/8 pixels away), so streaks fade into the
 *    average colours of the nearby picture.
 * 3. Noise: Gaussian noise (σ = 16 levels of 255) on the masked pixels, from a fixed-seed generator,
 *    so the pre-fill is the same for every request and image; it gives the sampler texture to work on.
 *
 * Known pixels are never changed.
 */
import { gaussianBlurPlane } from './gaussian-blur.js';
import type { MaskPlane, RgbImage } from './raster.js';

const NOISE_LEVELS = 16;
const NOISE_SEED = 0x6b696c6e;

/** mulberry32: a small, fixed, portable PRNG (the pre-fill must not depend on the request's seed). */
function uniformSource(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalSource(seed: number): () => number {
  const uniform = uniformSource(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** Nearest known pixel (by breadth-first search) for every pixel, and its distance in steps. */
function nearestKnown(known: Uint8Array, width: number, height: number): { source: Int32Array; distance: Int32Array } {
  const source = new Int32Array(width * height).fill(-1);
  const distance = new Int32Array(width * height).fill(-1);
  const queue = new Int32Array(width * height);
  let head = 0;
  let tail = 0;
  for (let p = 0; p < known.length; p++) {
    if (known[p]) {
      source[p] = p;
      distance[p] = 0;
      queue[tail++] = p;
    }
  }
  while (head < tail) {
    const p = queue[head++];
    const x = p % width;
    const y = (p - x) / width;
    const neighbours = [
      x > 0 ? p - 1 : -1,
      x < width - 1 ? p + 1 : -1,
      y > 0 ? p - width : -1,
      y < height - 1 ? p + width : -1,
    ];
    for (const n of neighbours) {
      if (n < 0 || distance[n] >= 0) continue;
      distance[n] = distance[p] + 1;
      source[n] = source[p];
      queue[tail++] = n;
    }
  }
  return { source, distance };
}

/**
 * The pre-filled image: `image` where `mask` < 0.5 (known), a continuation of it where
 * `mask` ≥ 0.5 (to be outpainted).
 */
export function outpaintPrefill(image: RgbImage, mask: MaskPlane): RgbImage {
  const { width, height } = image;
  if (mask.width !== width || mask.height !== height) {
    throw new RangeError(`outpaintPrefill: mask is ${mask.width}×${mask.height}, the image ${width}×${height}`);
  }
  const plane = width * height;
  const known = Uint8Array.from(mask.values, (v) => (v < 0.5 ? 1 : 0));
  const anyKnown = known.some((k) => k === 1);
  const { source, distance } = anyKnown
    ? nearestKnown(known, width, height)
    : { source: new Int32Array(plane).fill(-1), distance: new Int32Array(plane).fill(0) };

  const shorter = Math.min(width, height);
  const nearSigma = Math.max(1, shorter / 128);
  const farSigma = Math.min(24, Math.max(2, shorter / 16));
  const fadeDistance = Math.max(1, shorter / 8);
  const noise = normalSource(NOISE_SEED);

  const extended: Float32Array[] = [0, 1, 2].map((c) =>
    Float32Array.from({ length: plane }, (_, p) => (source[p] >= 0 ? image.pixels[source[p] * 3 + c] : 127.5)),
  );
  const near = extended.map((e) => gaussianBlurPlane(e, width, height, nearSigma));
  const far = extended.map((e) => gaussianBlurPlane(e, width, height, farSigma));

  const out = new Uint8Array(image.pixels);
  for (let p = 0; p < plane; p++) {
    if (known[p]) continue;
    const w = anyKnown ? Math.min(distance[p] / fadeDistance, 1) : 1;
    for (let c = 0; c < 3; c++) {
      const value = (1 - w) * near[c][p] + w * far[c][p] + NOISE_LEVELS * noise();
      out[p * 3 + c] = Math.round(Math.min(Math.max(value, 0), 255));
    }
  }
  return { width, height, pixels: out };
}
