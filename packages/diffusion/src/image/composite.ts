/** Pasting the original back over a render (AUTOMATIC1111's inpainting "overlay"). */
import type { MaskPlane, RgbImage } from './raster.js';

/**
 * `original × (1 − alpha) + generated × alpha` per pixel, rounded to the nearest level. Where
 * alpha is 0 the result is the original pixel exactly, where it is 1 the generated one exactly;
 * a blurred mask gives a soft seam between the two.
 */
export function blendByMask(original: RgbImage, generated: RgbImage, alpha: MaskPlane): RgbImage {
  const { width, height } = original;
  for (const [name, image] of [
    ['generated', generated],
    ['mask', alpha],
  ] as const) {
    if (image.width !== width || image.height !== height) {
      throw new RangeError(`blendByMask: ${name} is ${image.width}×${image.height}, the original ${width}×${height}`);
    }
  }
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const a = Math.min(Math.max(alpha.values[p], 0), 1);
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      if (a === 0) out[i] = original.pixels[i];
      else if (a === 1) out[i] = generated.pixels[i];
      else out[i] = Math.round(original.pixels[i] + (generated.pixels[i] - original.pixels[i]) * a);
    }
  }
  return { width, height, pixels: out };
}
