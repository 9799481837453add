/**
 * `kiln render` flags for the settings the shared diffusers reference images were rendered with
 * (../shared/reference: prompt, seed 42, 10 DDIM steps, guidance 7.5, 64×64), PNG out so pixels
 * compare exactly.
 */
export const REFERENCE_RENDER_FLAGS = [
  '--prompt',
  'a photo of a cat',
  '--seed',
  '42',
  '--steps',
  '10',
  '--cfg-scale',
  '7.5',
  '--sampler',
  'DDIM',
  '--width',
  '64',
  '--height',
  '64',
  '--image-encoding',
  'png',
];
