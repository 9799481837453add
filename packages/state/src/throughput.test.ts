import { describe, expect, it } from 'vitest';
import { fleetThroughput, type Throughput } from './throughput.js';

const measured = (family: string, model: string, executionProvider: string, unitsPerSecond: number): Throughput => ({
  family,
  model,
  executionProvider,
  unitsPerSecond,
  samples: 10,
  updatedAt: 0,
});

describe('fleetThroughput', () => {
  const all = [
    measured('sd15', 'dreamshaper', 'cuda', 12),
    measured('sd15', 'dreamshaper', 'cpu', 0.2),
    measured('sd15', 'base', 'cuda', 8),
    measured('sd3', 'sd3-medium', 'cuda', 3),
  ];

  it('averages the (model, provider) pairs live workers run', () => {
    const live = [
      { family: 'sd15', model: 'dreamshaper', executionProvider: 'cuda' },
      { family: 'sd15', model: 'base', executionProvider: 'cuda' },
    ];
    expect(fleetThroughput('sd15', all, live, 1)).toBe(10);
  });

  it('uses every measurement of the family when no live worker matches (a fleet scaled to zero)', () => {
    expect(fleetThroughput('sd15', all, [], 1)).toBeCloseTo((12 + 0.2 + 8) / 3, 12);
    expect(fleetThroughput('sd3', all, [], 1)).toBe(3);
  });

  it('falls back to the assumed figure before anything was measured', () => {
    expect(fleetThroughput('sd3', [], [], 2.5)).toBe(2.5);
  });
});
