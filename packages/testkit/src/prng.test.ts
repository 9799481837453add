import { describe, expect, it } from 'vitest';
import { hashString, Mulberry32, uniformValues } from './prng.js';

describe('prng', () => {
  it('is deterministic per seed and key, and differs across them', () => {
    expect(uniformValues(1, 'a.weight', 8, 1)).toEqual(uniformValues(1, 'a.weight', 8, 1));
    expect(uniformValues(1, 'a.weight', 8, 1)).not.toEqual(uniformValues(2, 'a.weight', 8, 1));
    expect(uniformValues(1, 'a.weight', 8, 1)).not.toEqual(uniformValues(1, 'b.weight', 8, 1));
    expect(hashString('abc')).not.toBe(hashString('abd'));
  });

  it('draws uniform values with the requested mean and standard deviation', () => {
    const values = uniformValues(3, 'stats', 100_000, 0.5, 2);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    expect(mean).toBeCloseTo(2, 2);
    expect(std).toBeCloseTo(0.5, 2);
    const halfWidth = 0.5 * Math.sqrt(3);
    expect(Math.min(...values)).toBeGreaterThanOrEqual(2 - halfWidth);
    expect(Math.max(...values)).toBeLessThanOrEqual(2 + halfWidth);
  });

  it('stays in [0, 1)', () => {
    const random = new Mulberry32(0);
    for (let i = 0; i < 10_000; i++) {
      const value = random.next();
      expect(value >= 0 && value < 1).toBe(true);
    }
  });
});
