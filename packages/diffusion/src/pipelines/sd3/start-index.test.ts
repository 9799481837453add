/**
 * Where SD3 image-to-image starts (StableDiffusion3Img2ImgPipeline.get_timesteps): the recorded
 * t_start of fixtures/schedulers/flowmatch.json (28 steps) and of the sd3-pipeline img2img case.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sd3StartIndex } from './image-to-image.pipeline.js';

const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/schedulers/flowmatch.json', import.meta.url), 'utf8'),
);
const recorded = fixture.variants['shift_3.0'].img2img as Record<string, { t_start: number; strength: number }>;

describe('sd3StartIndex', () => {
  it.each(Object.values(recorded))(
    '28 steps at strength $strength start at index $t_start',
    ({ strength, t_start }) => {
      expect(sd3StartIndex(fixture.img2img_steps, strength)).toBe(t_start);
    },
  );

  it("uses floating point, not SD1.5's int(steps × strength): 8 × 0.6 starts at 3 (5 steps run)", () => {
    expect(sd3StartIndex(8, 0.6)).toBe(3);
    expect(sd3StartIndex(10, 0.55)).toBe(4);
    expect(sd3StartIndex(8, 0.01)).toBe(7);
  });
});
