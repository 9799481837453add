import type { RngSource } from '../../rng/index.js';
import type { ControlNetInput } from './controlnet-residuals.js';

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
  /**
   * Peak bytes the render may take (@kiln/memory): the micro-batch shrinks to fit, and
   * a render that cannot fit with one image per UNet call is refused. Unset: no bound.
   */
  memoryBudgetBytes?: number;
  /** VAE tile side in pixels (default DEFAULT_VAE_TILE_SIZE): larger images decode and encode in tiles. */
  vaeTileSize?: number;
  /** Most 77-token chunks a prompt (or negative prompt) may take (default DEFAULT_MAX_PROMPT_CHUNKS). */
  maxPromptChunks?: number;
  /** ControlNets steering the composition (loaded with the model: `Sd15ModelParts.controlnets`). */
  controlnets?: readonly ControlNetInput[];
}

/** Text-to-image takes the common parameters only. */
export type TextToImageParams = RenderParams;
