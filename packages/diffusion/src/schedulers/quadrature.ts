/**
 * Adaptive Gauss–Kronrod quadrature (7-point Gauss, 15-point Kronrod), the rule family QUADPACK's
 * QAG uses and scipy.integrate.quad wraps. Kiln needs it for LMS's linear-multistep coefficients,
 * integrals of Lagrange basis polynomials that a single 15-point rule already integrates exactly.
 */

// QUADPACK's constants digit for digit (to 33 decimals, more than a double holds) so they
// can be checked against the source; each parses to the nearest double.
/* eslint-disable no-loss-of-precision */
/** Kronrod nodes on [0, 1] (symmetric about 0), QUADPACK's `xgk` for qk15. */
const KRONROD_NODES = [
  0.991455371120812639206854697526329, 0.949107912342758524526189684047851, 0.864864423359769072789712788640926,
  0.741531185599394439863864773280788, 0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
  0.207784955007898467600689403773245, 0,
];
/** Kronrod weights, QUADPACK's `wgk`. */
const KRONROD_WEIGHTS = [
  0.02293532201052922496373200805897, 0.063092092629978553290700663189204, 0.104790010322250183839876322541518,
  0.140653259715525918745189590510238, 0.16900472663926790282658342659855, 0.190350578064785409913256402421014,
  0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
];
/** Gauss weights of the embedded 7-point rule (nodes KRONROD_NODES[1], [3], [5], [7]), QUADPACK's `wg`. */
const GAUSS_WEIGHTS = [
  0.129484966168869693270611432679082, 0.27970539148927666790146777142378, 0.381830050505118944950369775488975,
  0.417959183673469387755102040816327,
];
/* eslint-enable no-loss-of-precision */

interface RuleResult {
  integral: number;
  /** |Kronrod − Gauss|: a (pessimistic) bound on the Kronrod estimate's error. */
  errorEstimate: number;
}

function gaussKronrod15(f: (x: number) => number, a: number, b: number): RuleResult {
  const center = (a + b) / 2;
  const halfLength = (b - a) / 2;
  const fCenter = f(center);
  let kronrod = fCenter * KRONROD_WEIGHTS[7];
  let gauss = fCenter * GAUSS_WEIGHTS[3];
  for (let j = 0; j < 7; j++) {
    const dx = halfLength * KRONROD_NODES[j];
    const pair = f(center - dx) + f(center + dx);
    kronrod += KRONROD_WEIGHTS[j] * pair;
    if (j % 2 === 1) gauss += GAUSS_WEIGHTS[(j - 1) / 2] * pair;
  }
  return { integral: kronrod * halfLength, errorEstimate: Math.abs((kronrod - gauss) * halfLength) };
}

export interface QuadratureOptions {
  /** Absolute error target (default 1e-12). */
  epsAbs?: number;
  /** Relative error target (default 1e-12). */
  epsRel?: number;
  /** Most subintervals before giving up (default 200). */
  maxIntervals?: number;
}

/**
 * ∫ₐᵇ f(x) dx by globally adaptive Gauss–Kronrod 7/15: the interval with the largest error
 * estimate is bisected until the summed estimate is below `max(epsAbs, epsRel * |integral|)`.
 * `a > b` gives the negated integral over [b, a], as scipy.integrate.quad does.
 */
export function integrate(f: (x: number) => number, a: number, b: number, options: QuadratureOptions = {}): number {
  const { epsAbs = 1e-12, epsRel = 1e-12, maxIntervals = 200 } = options;
  if (a === b) return 0;
  const intervals = [{ a, b, ...gaussKronrod15(f, a, b) }];
  for (;;) {
    let integral = 0;
    let error = 0;
    let worst = 0;
    intervals.forEach((interval, i) => {
      integral += interval.integral;
      error += interval.errorEstimate;
      if (interval.errorEstimate > intervals[worst].errorEstimate) worst = i;
    });
    // Stop at the target, or once the estimate is down at float64 round-off of the integral itself.
    const roundOffFloor =
      50 * Number.EPSILON * intervals.reduce((sum, interval) => sum + Math.abs(interval.integral), 0);
    if (error <= Math.max(epsAbs, epsRel * Math.abs(integral), roundOffFloor)) return integral;
    if (intervals.length >= maxIntervals) {
      throw new Error(`integrate: no convergence after ${maxIntervals} subintervals (error estimate ${error})`);
    }
    const { a: lo, b: hi } = intervals[worst];
    const mid = (lo + hi) / 2;
    const left = { a: lo, b: mid, ...gaussKronrod15(f, lo, mid) };
    const right = { a: mid, b: hi, ...gaussKronrod15(f, mid, hi) };
    intervals.splice(worst, 1, left, right);
  }
}
