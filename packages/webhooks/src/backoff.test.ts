import { loadConfig } from '@kiln/config';
import { describe, expect, it } from 'vitest';
import { attemptOffsetsMs, backoffDelayMs } from './backoff.js';

const MINUTE = 60_000;

describe('webhook retry schedule', () => {
  it('doubles the wait after each failed attempt', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, 1000))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('by default makes at least 8 attempts spread over at least 2 hours', () => {
    const config = loadConfig({});
    const offsets = attemptOffsetsMs(config.webhookAttempts, config.webhookBackoffMs);
    expect(offsets.length).toBeGreaterThanOrEqual(8);
    expect(offsets.at(-1)!).toBeGreaterThanOrEqual(120 * MINUTE);
    // the defaults exactly: 10 attempts, 1 min base → 1+2+…+256 = 511 minutes
    expect(offsets).toEqual([0, 1, 3, 7, 15, 31, 63, 127, 255, 511].map((m) => m * MINUTE));
    // even the 8th attempt alone is over 2 hours after the first
    expect(offsets[7]).toBeGreaterThanOrEqual(120 * MINUTE);
  });
});
