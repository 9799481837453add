/**
 * The exponential-integrator updates that multistep and singlestep DPM-Solver(++) share
 * (diffusers' `dpm_solver_first_order_update`, and the second/third-order formulas both schedulers
 * apply once they have their D0, D1, D2), every coefficient rounded to float32 as diffusers'
 * tensor arithmetic does.
 *
 * Symbols as in the papers (arXiv:2206.00927, arXiv:2211.01095): the update goes from the base point
 * s (the sample's sigma) to t; α, σ are a point's VP coefficients, h = λ_t − λ_s the step in half
 * log-SNR; D0 is the base model output, D1 and D2 the first and second divided differences.
 */
import type { DpmSolverAlgorithm, DpmSolverType, LogSnrPoint } from './dpm-solver-common.js';
import { linearCombinationF32, type ScaledTensor } from './float32-linear-combination.js';

const f32 = Math.fround;
const expF32 = (x: number) => f32(Math.exp(x));

/** From the base point `s` to `t`; `h = λ_t − λ_s`. */
export interface UpdateSpan {
  t: LogSnrPoint;
  s: LogSnrPoint;
  h: number;
}

/** The span from `s` to `t`. */
export function updateSpan(t: LogSnrPoint, s: LogSnrPoint): UpdateSpan {
  return { t, s, h: f32(t.lambda - s.lambda) };
}

/** `sigma_t * sqrt(1 - exp(-2h))`: the noise scale of SDE-DPM-Solver++. */
function sdeNoiseScalePlusPlus(sigmaT: number, h: number): number {
  return f32(sigmaT * f32(Math.sqrt(f32(1 - expF32(f32(-2 * h))))));
}

/** `sigma_t * sqrt(exp(2h) - 1)`: the noise scale of SDE-DPM-Solver. */
function sdeNoiseScale(sigmaT: number, h: number): number {
  return f32(sigmaT * f32(Math.sqrt(f32(expF32(f32(2 * h)) - 1))));
}

/** First-order DPM-Solver step (DDIM for the ODE variants); `noise` is used by the SDE variants only. */
export function firstOrderUpdate(
  algorithm: DpmSolverAlgorithm,
  { t, s, h }: UpdateSpan,
  m0: Float32Array,
  sample: Float32Array,
  noise: Float32Array | null,
): Float32Array {
  switch (algorithm) {
    case 'dpmsolver++':
      return linearCombinationF32([
        [f32(t.sigma / s.sigma), sample],
        [-f32(t.alpha * f32(expF32(-h) - 1)), m0],
      ]);
    case 'dpmsolver':
      return linearCombinationF32([
        [f32(t.alpha / s.alpha), sample],
        [-f32(t.sigma * f32(expF32(h) - 1)), m0],
      ]);
    case 'sde-dpmsolver++':
      return linearCombinationF32([
        [f32(f32(t.sigma / s.sigma) * expF32(-h)), sample],
        [f32(t.alpha * f32(1 - expF32(f32(-2 * h)))), m0],
        [sdeNoiseScalePlusPlus(t.sigma, h), noise as Float32Array],
      ]);
    case 'sde-dpmsolver':
      return linearCombinationF32([
        [f32(t.alpha / s.alpha), sample],
        [-f32(2 * f32(t.sigma * f32(expF32(h) - 1))), m0],
        [sdeNoiseScale(t.sigma, h), noise as Float32Array],
      ]);
  }
}

/** Second-order update from the base point's sample, with D0 and the divided difference D1. */
export function secondOrderUpdate(
  algorithm: DpmSolverAlgorithm,
  solverType: DpmSolverType,
  { t, s, h }: UpdateSpan,
  D0: Float32Array,
  D1: Float32Array,
  sample: Float32Array,
  noise: Float32Array | null,
): Float32Array {
  const terms: ScaledTensor[] = [];
  const midpoint = solverType === 'midpoint';
  switch (algorithm) {
    case 'dpmsolver++': {
      const phi = f32(t.alpha * f32(expF32(-h) - 1));
      terms.push([f32(t.sigma / s.sigma), sample], [-phi, D0]);
      terms.push(midpoint ? [-f32(0.5 * phi), D1] : [f32(t.alpha * f32(f32(f32(expF32(-h) - 1) / h) + 1)), D1]);
      break;
    }
    case 'dpmsolver': {
      const phi = f32(t.sigma * f32(expF32(h) - 1));
      terms.push([f32(t.alpha / s.alpha), sample], [-phi, D0]);
      terms.push(midpoint ? [-f32(0.5 * phi), D1] : [-f32(t.sigma * f32(f32(f32(expF32(h) - 1) / h) - 1)), D1]);
      break;
    }
    case 'sde-dpmsolver++': {
      const phi = f32(t.alpha * f32(1 - expF32(f32(-2 * h))));
      terms.push([f32(f32(t.sigma / s.sigma) * expF32(-h)), sample], [phi, D0]);
      terms.push(
        midpoint ? [f32(0.5 * phi), D1] : [f32(t.alpha * f32(f32(f32(1 - expF32(f32(-2 * h))) / f32(-2 * h)) + 1)), D1],
      );
      terms.push([sdeNoiseScalePlusPlus(t.sigma, h), noise as Float32Array]);
      break;
    }
    case 'sde-dpmsolver': {
      const phi = f32(t.sigma * f32(expF32(h) - 1));
      terms.push([f32(t.alpha / s.alpha), sample], [-f32(2 * phi), D0]);
      terms.push(midpoint ? [-phi, D1] : [-f32(2 * f32(t.sigma * f32(f32(f32(expF32(h) - 1) / h) - 1))), D1]);
      terms.push([sdeNoiseScale(t.sigma, h), noise as Float32Array]);
      break;
    }
  }
  return linearCombinationF32(terms);
}

/**
 * Third-order update from the base point's sample with D0, D1 and D2; without D2 (singlestep's
 * midpoint solver) the second-difference term is left out. diffusers has no third order for
 * `sde-dpmsolver`; callers reject it first.
 */
export function thirdOrderUpdate(
  algorithm: Exclude<DpmSolverAlgorithm, 'sde-dpmsolver'>,
  { t, s, h }: UpdateSpan,
  D0: Float32Array,
  D1: Float32Array,
  D2: Float32Array | null,
  sample: Float32Array,
  noise: Float32Array | null,
): Float32Array {
  const hh = f32(h * h);
  const terms: ScaledTensor[] = [];
  switch (algorithm) {
    case 'dpmsolver++': {
      const e = f32(expF32(-h) - 1);
      terms.push([f32(t.sigma / s.sigma), sample], [-f32(t.alpha * e), D0], [f32(t.alpha * f32(f32(e / h) + 1)), D1]);
      if (D2) terms.push([-f32(t.alpha * f32(f32(f32(e + h) / hh) - 0.5)), D2]);
      break;
    }
    case 'dpmsolver': {
      const e = f32(expF32(h) - 1);
      terms.push([f32(t.alpha / s.alpha), sample], [-f32(t.sigma * e), D0], [-f32(t.sigma * f32(f32(e / h) - 1)), D1]);
      if (D2) terms.push([-f32(t.sigma * f32(f32(f32(e - h) / hh) - 0.5)), D2]);
      break;
    }
    case 'sde-dpmsolver++': {
      const e = f32(1 - expF32(f32(-2 * h)));
      const minus2h = f32(-2 * h);
      terms.push(
        [f32(f32(t.sigma / s.sigma) * expF32(-h)), sample],
        [f32(t.alpha * e), D0],
        [f32(t.alpha * f32(f32(e / minus2h) + 1)), D1],
      );
      if (D2) terms.push([f32(t.alpha * f32(f32(f32(e + minus2h) / f32(minus2h * minus2h)) - 0.5)), D2]);
      terms.push([sdeNoiseScalePlusPlus(t.sigma, h), noise as Float32Array]);
      break;
    }
  }
  return linearCombinationF32(terms);
}
