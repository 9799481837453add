import type { ModelFamily } from './model-family.js';

/** A `[width, height]` pair in pixels. */
export type Resolution = readonly [width: number, height: number];

/** The (width, height) pairs `POST /generate/sd` accepts (docs/generate.md, OctoAI's SD1.5 list). */
export const SD15_RESOLUTIONS: readonly Resolution[] = [
  [384, 704],
  [448, 576],
  [512, 512],
  [512, 704],
  [512, 768],
  [512, 832],
  [576, 448],
  [576, 768],
  [576, 1024],
  [640, 512],
  [640, 640],
  [640, 768],
  [704, 384],
  [704, 1216],
  [768, 512],
  [768, 576],
  [768, 1024],
  [832, 512],
  [896, 896],
  [1024, 576],
  [1024, 768],
  [1024, 1024],
  [1024, 1536],
  [1216, 704],
  [1536, 1024],
];

/** The (width, height) pairs `POST /generate/sd3` accepts (docs/generate.md, about one megapixel each). */
export const SD3_RESOLUTIONS: readonly Resolution[] = [
  [640, 1536],
  [768, 1344],
  [832, 1216],
  [896, 1152],
  [1024, 1024],
  [1152, 896],
  [1216, 832],
  [1344, 768],
  [1536, 640],
];

/** The allowed pairs of each family. */
export const RESOLUTIONS: Readonly<Record<ModelFamily, readonly Resolution[]>> = {
  sd15: SD15_RESOLUTIONS,
  sd3: SD3_RESOLUTIONS,
};

/** The default output size of each family (the models' native training size). */
export const DEFAULT_RESOLUTION: Readonly<Record<ModelFamily, Resolution>> = {
  sd15: [512, 512],
  sd3: [1024, 1024],
};

/**
 * Bounds on each side when the operator sets `KILN_ALLOW_ANY_RESOLUTION=1`: any multiple of 8
 * (the VAE downsamples by 8) from 64 to 2048. They hold for every allowed pair too, so they are
 * the per-field limits in both modes.
 */
export const ANY_RESOLUTION_LIMITS = { min: 64, max: 2048, multipleOf: 8 } as const;

/** Whether `width × height` is in the family's allowed list. */
export function isAllowedResolution(family: ModelFamily, width: number, height: number): boolean {
  return RESOLUTIONS[family].some(([w, h]) => w === width && h === height);
}

/** Whether one side length satisfies {@link ANY_RESOLUTION_LIMITS}. */
export function isAnyResolutionSide(side: number): boolean {
  const { min, max, multipleOf } = ANY_RESOLUTION_LIMITS;
  return Number.isInteger(side) && side >= min && side <= max && side % multipleOf === 0;
}

/** `"512x768"`: the way resolutions are spelled in messages and docs. */
export function formatResolution([width, height]: Resolution): string {
  return `${width}x${height}`;
}
