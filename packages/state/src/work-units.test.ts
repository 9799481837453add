import { describe, expect, it } from 'vitest';
import { laneOfPriority, workUnits } from './work-units.js';

describe('workUnits', () => {
  it('is steps × megapixels × images, doubled by classifier-free guidance', () => {
    expect(workUnits({ steps: 30, width: 512, height: 512, images: 4, cfgScale: 7.5 })).toBeCloseTo(
      30 * 0.262144 * 4 * 2,
      12,
    );
    // cfg_scale 1 runs one UNet pass per step, as the pipelines do (guided = cfg_scale > 1)
    expect(workUnits({ steps: 4, width: 1024, height: 1024, images: 1, cfgScale: 1 })).toBeCloseTo(4 * 1.048576, 12);
  });

  it('counts the steps image-to-image runs: ⌊steps × strength⌋, at least one', () => {
    expect(workUnits({ steps: 30, width: 1000, height: 1000, images: 1, cfgScale: 1, strength: 0.5 })).toBe(15);
    expect(workUnits({ steps: 10, width: 1000, height: 1000, images: 1, cfgScale: 1, strength: 0.01 })).toBe(1);
  });
});

describe('laneOfPriority', () => {
  it('maps BullMQ priorities to lanes: none = interactive, 5 = async, 10 and up = batch', () => {
    expect(laneOfPriority(undefined)).toBe('interactive');
    expect(laneOfPriority(0)).toBe('interactive');
    expect(laneOfPriority(5)).toBe('async');
    expect(laneOfPriority(10)).toBe('batch');
    expect(laneOfPriority(4_000_000)).toBe('batch');
  });
});
