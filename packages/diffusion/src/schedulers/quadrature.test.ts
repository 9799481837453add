/**
 * Gauss–Kronrod quadrature against closed forms, and LMS's coefficients against their algebra.
 */
import { describe, expect, it } from 'vitest';
import { lmsCoefficient } from './lms.scheduler.js';
import { integrate } from './quadrature.js';

describe('integrate', () => {
  it('is exact for polynomials a single 15-point rule covers', () => {
    // ∫_{-1}^{2} (3x^5 - x^2 + 4) dx = 3·(64 - 1)/6 - (8 + 1)/3 + 12 = 40.5
    expect(integrate((x) => 3 * x ** 5 - x ** 2 + 4, -1, 2)).toBeCloseTo(40.5, 12);
  });

  it('adapts to smooth non-polynomial integrands to 1e-10', () => {
    expect(Math.abs(integrate(Math.exp, 0, 3) - (Math.exp(3) - 1))).toBeLessThan(1e-10);
    expect(Math.abs(integrate((x) => 1 / (1 + x * x), 0, 50) - Math.atan(50))).toBeLessThan(1e-10);
    expect(Math.abs(integrate(Math.sqrt, 0, 1) - 2 / 3)).toBeLessThan(1e-10);
  });

  it('negates the integral when the limits are reversed, as scipy.integrate.quad does', () => {
    expect(integrate((x) => x * x, 2, 0)).toBeCloseTo(-8 / 3, 13);
    expect(integrate((x) => x, 1, 1)).toBe(0);
  });
});

describe('lmsCoefficient', () => {
  // Descending sigmas as an LMS schedule has them.
  const sigmas = [14.6, 9.7, 6.4, 4.1, 2.5, 1.3, 0];

  it('order 1 is plain Euler: the coefficient is σ_{t+1} - σ_t', () => {
    expect(lmsCoefficient(sigmas, 1, 0, 0)).toBeCloseTo(9.7 - 14.6, 12);
  });

  it('the coefficients of one step sum to σ_{t+1} - σ_t (the Lagrange basis sums to 1)', () => {
    for (let order = 1; order <= 4; order++) {
      const t = 4;
      let sum = 0;
      for (let k = 0; k < order; k++) sum += lmsCoefficient(sigmas, order, t, k);
      expect(sum).toBeCloseTo(sigmas[t + 1] - sigmas[t], 12);
    }
  });

  it('order 2 matches the closed form of the two-step Adams–Bashforth weights on a non-uniform grid', () => {
    const t = 3;
    const h = sigmas[t + 1] - sigmas[t];
    const previous = sigmas[t - 1] - sigmas[t];
    // Integrating the two linear Lagrange basis polynomials through σ_t and σ_{t-1} over [σ_t, σ_t + h]:
    const newest = h - (h * h) / (2 * previous);
    const older = (h * h) / (2 * previous);
    expect(lmsCoefficient(sigmas, 2, t, 0)).toBeCloseTo(newest, 12);
    expect(lmsCoefficient(sigmas, 2, t, 1)).toBeCloseTo(older, 12);
  });
});
