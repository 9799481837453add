/**
 * `controlnet_preprocess: true`: turns a plain photo into a ControlNet conditioning image, for
 * the ControlNets whose annotators need no model. Output: white strokes/edges on black (or the
 * grey image), replicated to 3 channels, at the input's size. See docs/controlnet.md.
 */
import { RenderInputError } from '../errors.js';
import { cannyEdgePlane } from './control-preprocess/canny.js';
import { scribblePlane } from './control-preprocess/scribble.js';
import { lumaOf, type RgbImage } from './raster.js';

export const CONTROL_PREPROCESSORS = ['canny', 'scribble', 'grayscale'] as const;
export type ControlPreprocessor = (typeof CONTROL_PREPROCESSORS)[number];

export interface PreprocessOptions {
  /** Canny: a pixel can be an edge if its L1 Sobel magnitude exceeds this; 0..255, default 100. */
  lowThreshold?: number;
  /** Canny: a pixel seeds an edge if its magnitude exceeds this; low..255, default 200 (cv2 floors fractions). */
  highThreshold?: number;
}

/** The ControlNet annotator's defaults (lllyasviel's gradio demo and controlnet_aux). */
export const DEFAULT_CANNY_THRESHOLDS = { lowThreshold: 100, highThreshold: 200 } as const;

export function isControlPreprocessor(value: string): value is ControlPreprocessor {
  return (CONTROL_PREPROCESSORS as readonly string[]).includes(value);
}

function cannyThresholds(options: PreprocessOptions): { low: number; high: number } {
  const low = options.lowThreshold ?? DEFAULT_CANNY_THRESHOLDS.lowThreshold;
  const high = options.highThreshold ?? DEFAULT_CANNY_THRESHOLDS.highThreshold;
  for (const [name, value] of [
    ['lowThreshold', low],
    ['highThreshold', high],
  ] as const) {
    if (!Number.isFinite(value) || value < 0 || value > 255) {
      throw new RenderInputError('input_rejected', `Canny ${name} must be a number in 0..255, got ${value}`, name);
    }
  }
  // cv2 silently swaps them; a request that asks for low > high most likely has a mistake in it.
  if (low > high) {
    throw new RenderInputError(
      'input_rejected',
      `Canny lowThreshold (${low}) must not exceed highThreshold (${high})`,
      'lowThreshold',
    );
  }
  return { low, high };
}

/** One byte per pixel → RGB with the byte in all three channels. */
function replicatePlane(width: number, height: number, plane: Uint8Array): RgbImage {
  const pixels = new Uint8Array(width * height * 3);
  for (let i = 0; i < plane.length; i++) {
    const v = plane[i];
    pixels[i * 3] = v;
    pixels[i * 3 + 1] = v;
    pixels[i * 3 + 2] = v;
  }
  return { width, height, pixels };
}

export function preprocessConditioningImage(
  image: RgbImage,
  method: ControlPreprocessor,
  options: PreprocessOptions = {},
): RgbImage {
  const { width, height } = image;
  if (image.pixels.length !== width * height * 3 || width < 1 || height < 1) {
    throw new RangeError(
      `an RGB image of ${width}×${height} needs ${width * height * 3} bytes, got ${image.pixels.length}`,
    );
  }
  switch (method) {
    case 'canny': {
      const { low, high } = cannyThresholds(options);
      return replicatePlane(width, height, cannyEdgePlane(image, low, high));
    }
    case 'scribble':
      return replicatePlane(width, height, scribblePlane(image));
    case 'grayscale': {
      // PIL's convert("L") (what diffusers-side tooling uses); lumaOf stores luma / 255, so
      // rounding recovers Pillow's integer exactly.
      const luma = lumaOf(image).values;
      const plane = new Uint8Array(luma.length);
      for (let i = 0; i < luma.length; i++) plane[i] = Math.round(luma[i] * 255);
      return replicatePlane(width, height, plane);
    }
    default: {
      const unknown: never = method;
      throw new RenderInputError(
        'input_rejected',
        `unknown ControlNet preprocessor "${String(unknown)}"`,
        'controlnet_preprocess',
      );
    }
  }
}
