import type { RgbImage } from '../../image/raster.js';
import type { RngSource } from '../../rng/index.js';

/** What every SD3 render takes (text-to-image is exactly this). */
export interface Sd3Params {
  prompt: string;
  /** diffusers' `prompt_2` (CLIP-G's text); defaults to `prompt`. */
  prompt2?: string;
  /** diffusers' `prompt_3` (T5's text); defaults to `prompt`. */
  prompt3?: string;
  /** Empty by default: diffusers encodes "" (it does not use zeros). */
  negativePrompt: string;
  negativePrompt2?: string;
  negativePrompt3?: string;
  steps: number;
  /** Classifier-free guidance scale; ≤ 1 turns guidance off, as diffusers' `do_classifier_free_guidance`. */
  cfgScale: number;
  width: number;
  height: number;
  /** One per image, in output order. */
  seeds: readonly number[];
  /** Images per transformer call (classifier-free guidance doubles the transformer batch). */
  microBatchSize: number;
  /**
   * diffusers' `clip_skip` for SD3 (not A1111's): unset or 0 = the penultimate CLIP layer (SD3's
   * default), k = k layers before it. Applies to the positive prompt only, as in diffusers.
   */
  clipSkip?: number;
  /** T5 tokens (diffusers' `max_sequence_length`, default 256, at most 512). */
  maxSequenceLength?: number;
  rng?: RngSource;
}

export interface Sd3ImageToImageParams extends Sd3Params {
  /** The source image, already at width × height (see decodeInitImage). */
  initImage: RgbImage;
  /** How much of the image to repaint, > 0 and ≤ 1. */
  strength: number;
}

export const DEFAULT_MAX_SEQUENCE_LENGTH = 256;
