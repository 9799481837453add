import { describe, expect, it } from 'vitest';
import { AuthFailureThrottle } from './auth-throttle.js';

describe('AuthFailureThrottle', () => {
  it('lets a burst of N failures through, then one every 60/N seconds', () => {
    const throttle = new AuthFailureThrottle(6); // one per 10 s after a burst of 6
    const t0 = 1_000_000;
    for (let i = 0; i < 6; i++) {
      expect(throttle.waitMs('a', t0)).toBe(0);
      throttle.fail('a', t0);
    }
    expect(throttle.waitMs('a', t0)).toBe(10_000);
    expect(throttle.waitMs('a', t0 + 9_999)).toBe(1);
    expect(throttle.waitMs('a', t0 + 10_000)).toBe(0);
    throttle.fail('a', t0 + 10_000);
    expect(throttle.waitMs('a', t0 + 10_000)).toBe(10_000);
  });

  it('counts each address on its own, and forgets an address once its failures have drained', () => {
    const throttle = new AuthFailureThrottle(1);
    throttle.fail('a', 0);
    expect(throttle.waitMs('a', 0)).toBe(60_000);
    expect(throttle.waitMs('b', 0)).toBe(0);
    expect(throttle.waitMs('a', 60_000)).toBe(0);
  });
});
