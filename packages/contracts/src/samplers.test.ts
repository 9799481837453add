import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RESOLUTION,
  isAllowedResolution,
  isAnyResolutionSide,
  SD15_RESOLUTIONS,
  SD3_RESOLUTIONS,
} from './resolutions.js';
import { canonicalSd15Sampler, SD15_SAMPLERS, SD3_SAMPLERS } from './samplers.js';

describe('samplers', () => {
  it('LMS = KLMS and K_HEUN = HEUN; other names are their own canonical name', () => {
    expect(canonicalSd15Sampler('LMS')).toBe('KLMS');
    expect(canonicalSd15Sampler('K_HEUN')).toBe('HEUN');
    for (const s of SD15_SAMPLERS.filter((n) => n !== 'LMS' && n !== 'K_HEUN')) expect(canonicalSd15Sampler(s)).toBe(s);
  });

  it('SD3 has the flow-matching Euler sampler only', () => {
    expect(SD3_SAMPLERS).toEqual(['FLOW_MATCH_EULER']);
  });
});

describe('resolutions', () => {
  it('lists the 25 SD1.5 and 9 SD3 pairs of docs/generate.md, without duplicates', () => {
    expect(SD15_RESOLUTIONS).toHaveLength(25);
    expect(SD3_RESOLUTIONS).toHaveLength(9);
    expect(new Set(SD15_RESOLUTIONS.map((r) => r.join('x'))).size).toBe(25);
    expect(new Set(SD3_RESOLUTIONS.map((r) => r.join('x'))).size).toBe(9);
  });

  it('every allowed pair and default also satisfies the any-resolution bounds', () => {
    for (const [w, h] of [...SD15_RESOLUTIONS, ...SD3_RESOLUTIONS]) {
      expect(isAnyResolutionSide(w) && isAnyResolutionSide(h)).toBe(true);
    }
    expect(isAllowedResolution('sd15', ...DEFAULT_RESOLUTION.sd15)).toBe(true);
    expect(isAllowedResolution('sd3', ...DEFAULT_RESOLUTION.sd3)).toBe(true);
  });

  it('pairs are ordered (width, height)', () => {
    expect(isAllowedResolution('sd15', 384, 704)).toBe(true);
    expect(isAllowedResolution('sd15', 704, 384)).toBe(true);
    expect(isAllowedResolution('sd15', 448, 576)).toBe(true);
    expect(isAllowedResolution('sd15', 576, 576)).toBe(false);
    expect(isAllowedResolution('sd3', 640, 1536)).toBe(true);
    expect(isAllowedResolution('sd3', 1536, 1536)).toBe(false);
  });

  it.each([
    [64, true],
    [2048, true],
    [56, false],
    [2056, false],
    [100, false],
    [64.5, false],
  ])('any-resolution side %d → %s', (side, expected) => {
    expect(isAnyResolutionSide(side)).toBe(expected);
  });
});
