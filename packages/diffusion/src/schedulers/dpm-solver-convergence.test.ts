/**
 * The solver orders and variants the diffusers reference does not record (orders 1 and 3, heun,
 * noise-prediction DPM-Solver, UniPC bh1 / predict_x0=false), checked by convergence: for Gaussian
 * data x0 ~ N(0, S²) the exact noise prediction is eps = σ_t·x / (α_t²S² + σ_t²) and the
 * probability-flow ODE has the closed-form solution x(σ) = x(σ_T)·sqrt(v(σ) / v(σ_T)) with
 * v = α_t²S² + σ_t². Halving the step size must divide the error by about 2^order.
 */
import { describe, expect, it } from 'vitest';
import { DPMSolverMultistepScheduler } from './dpm-multistep.scheduler.js';
import { DPMSolverSinglestepScheduler } from './dpm-singlestep.scheduler.js';
import type { Scheduler } from './scheduler.js';
import { UniPCMultistepScheduler } from './unipc.scheduler.js';

const SD15 = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: 1000 };
/** Karras steps are smooth in log-SNR, and a final sigma_min keeps the comparison on the ODE. */
const SMOOTH = { use_karras_sigmas: true, final_sigmas_type: 'sigma_min' };
const DATA_STD = 0.5;

function vpCoefficients(sigma: number) {
  const alpha = 1 / Math.sqrt(1 + sigma * sigma);
  return { alpha, sigmaT: sigma * alpha, variance: alpha * alpha * DATA_STD ** 2 + (sigma * alpha) ** 2 };
}

/** Largest absolute error of the sampler's result against the exact ODE solution. */
function odeError(make: () => Scheduler, steps: number): number {
  const scheduler = make();
  scheduler.setTimesteps(steps);
  const sigmas = scheduler.sigmas as readonly number[];
  const start = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 16);
  let x: Float32Array = start.slice();
  scheduler.timesteps.forEach((t, i) => {
    const { sigmaT, variance } = vpCoefficients(sigmas[i]);
    const eps = Float32Array.from(x, (v) => (sigmaT * v) / variance);
    x = scheduler.step(eps, t, x, { shape: [1, 64] });
  });
  const ratio = Math.sqrt(vpCoefficients(sigmas[sigmas.length - 1]).variance / vpCoefficients(sigmas[0]).variance);
  return start.reduce((worst, v, i) => Math.max(worst, Math.abs(x[i] - v * ratio)), 0);
}

function observedOrder(make: () => Scheduler): number {
  return Math.log2(odeError(make, 24) / odeError(make, 48));
}

type Case = [label: string, expectedOrder: number, make: () => Scheduler];
const cases: Case[] = [];
for (const order of [1, 2, 3]) {
  cases.push(
    [
      `singlestep dpmsolver++ midpoint, order ${order}`,
      order,
      () => new DPMSolverSinglestepScheduler(SD15, { ...SMOOTH, solver_order: order }),
    ],
    [
      `singlestep dpmsolver++ heun, order ${order}`,
      order,
      () => new DPMSolverSinglestepScheduler(SD15, { ...SMOOTH, solver_order: order, solver_type: 'heun' }),
    ],
    [
      `singlestep dpmsolver, order ${order}`,
      order,
      () => new DPMSolverSinglestepScheduler(SD15, { ...SMOOTH, solver_order: order, algorithm_type: 'dpmsolver' }),
    ],
    // UniC raises UniP-p to order p + 1.
    [
      `UniPC bh2, order ${order}`,
      order + 1,
      () => new UniPCMultistepScheduler(SD15, { ...SMOOTH, solver_order: order }),
    ],
    [
      `UniPC bh1, order ${order}`,
      order + 1,
      () => new UniPCMultistepScheduler(SD15, { ...SMOOTH, solver_order: order, solver_type: 'bh1' }),
    ],
    [
      `UniPC noise prediction, order ${order}`,
      order + 1,
      () => new UniPCMultistepScheduler(SD15, { ...SMOOTH, solver_order: order, predict_x0: false }),
    ],
  );
}
for (const order of [1, 2]) {
  // euler_at_final: with Karras sigmas and a sigma_min final the last step has h = 0, where
  // diffusers' higher-order formulas divide by h.
  const multistep = (extra: Record<string, unknown>) => () =>
    new DPMSolverMultistepScheduler(SD15, { ...SMOOTH, euler_at_final: true, solver_order: order, ...extra });
  cases.push(
    [`multistep dpmsolver++ midpoint, order ${order}`, order, multistep({})],
    [`multistep dpmsolver++ heun, order ${order}`, order, multistep({ solver_type: 'heun' })],
    [`multistep dpmsolver, order ${order}`, order, multistep({ algorithm_type: 'dpmsolver' })],
  );
}

describe('DPM-Solver family convergence on Gaussian data', () => {
  it.each(cases)('%s converges with order %d', (_label, expectedOrder, make) => {
    expect(observedOrder(make)).toBeGreaterThan(expectedOrder - 0.4);
  });

  it('multistep order 3 beats order 2 (its first-order warm-up step caps the global order near 2)', () => {
    for (const algorithm_type of ['dpmsolver++', 'dpmsolver']) {
      const make = (order: number) => () =>
        new DPMSolverMultistepScheduler(SD15, { ...SMOOTH, euler_at_final: true, solver_order: order, algorithm_type });
      expect(odeError(make(3), 48)).toBeLessThan(odeError(make(2), 48) / 2);
      expect(observedOrder(make(3))).toBeGreaterThan(1.5);
    }
  });
});
