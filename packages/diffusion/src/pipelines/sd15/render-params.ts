import type { RngSource } from '../../rng/index.js';

/** What every SD1.5 render takes (text-to-image is exactly this). */
export interface RenderParams {
  prompt: string;
  negativePrompt: string;
  sampler: string;
  steps: number;
  cfgScale: number;
  width: number;
  height: number;
  /** One per image, in output order. */
  seeds: readonly number[];
  clipSkip: number;
  /** Images per UNet call (classifier-free guidance doubles the UNet batch). */
  microBatchSize: number;
  rng?: RngSource;
}

/** Text-to-image takes the common parameters only. */
export type TextToImageParams = RenderParams;
