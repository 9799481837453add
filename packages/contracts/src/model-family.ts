/**
 * The model families Kiln serves, one per generation endpoint:
 * `sd15` answers `POST /generate/sd`, `sd3` answers `POST /generate/sd3`.
 */
export const MODEL_FAMILIES = ['sd15', 'sd3'] as const;

/** A model family: `sd15` (Stable Diffusion 1.5) or `sd3` (SD3 Medium). */
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/** The OctoAI-compatible endpoint path of each family. */
export const GENERATE_PATHS: Readonly<Record<ModelFamily, string>> = {
  sd15: '/generate/sd',
  sd3: '/generate/sd3',
};
