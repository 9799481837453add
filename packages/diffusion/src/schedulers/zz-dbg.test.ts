import { it } from 'vitest';
import { DPMSolverMultistepScheduler } from './dpm-multistep.scheduler.js';
import { DPMSolverSinglestepScheduler } from './dpm-singlestep.scheduler.js';
import { UniPCMultistepScheduler } from './unipc.scheduler.js';
import type { Scheduler } from './scheduler.js';
const sd15 = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: 1000 };
const S = 0.5;
const variance = (sig: number) => { const a = 1 / Math.sqrt(1 + sig * sig); const st = sig * a; return a*a*S*S + st*st; };
function err(make: () => Scheduler & { sigmas: number[] }, n: number) {
  const s = make(); s.setTimesteps(n);
  const xT = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 16);
  let x: Float32Array = xT.slice();
  s.timesteps.forEach((t, i) => {
    const sig = s.sigmas[i]; const a = 1 / Math.sqrt(1 + sig * sig); const st = sig * a;
    x = s.step(Float32Array.from(x, (v) => (st * v) / (a * a * S * S + st * st)), t, x, { shape: [1, 64] });
  });
  const ratio = Math.sqrt(variance(s.sigmas[s.sigmas.length-1]) / variance(s.sigmas[0]));
  let e = 0; xT.forEach((v, i) => { e = Math.max(e, Math.abs(x[i] - v * ratio)); });
  return e;
}
it('conv', () => {
  const base = { final_sigmas_type: 'sigma_min', use_karras_sigmas: true };
  const cases: [string, () => any][] = [];
  for (const order of [1,2,3]) {
    cases.push(['ms++'+order, () => new DPMSolverMultistepScheduler(sd15, { ...base, solver_order: order, euler_at_final: true })]);
    cases.push(['msheun'+order, () => new DPMSolverMultistepScheduler(sd15, { ...base, solver_order: order, solver_type: 'heun', euler_at_final: true })]);
    cases.push(['ms'+order, () => new DPMSolverMultistepScheduler(sd15, { ...base, solver_order: order, algorithm_type: 'dpmsolver', euler_at_final: true })]);
    cases.push(['ss++'+order, () => new DPMSolverSinglestepScheduler(sd15, { ...base, solver_order: order })]);
    cases.push(['ssheun'+order, () => new DPMSolverSinglestepScheduler(sd15, { ...base, solver_order: order, solver_type: 'heun' })]);
    cases.push(['ss'+order, () => new DPMSolverSinglestepScheduler(sd15, { ...base, solver_order: order, algorithm_type: 'dpmsolver' })]);
    cases.push(['uni'+order, () => new UniPCMultistepScheduler(sd15, { ...base, solver_order: order })]);
    cases.push(['unib1'+order, () => new UniPCMultistepScheduler(sd15, { ...base, solver_order: order, solver_type: 'bh1' })]);
    cases.push(['uninoise'+order, () => new UniPCMultistepScheduler(sd15, { ...base, solver_order: order, predict_x0: false })]);
  }
  for (const [name, make] of cases) { const e1 = err(make, 24), e2 = err(make, 48); console.log(name, e1.toExponential(2), e2.toExponential(2), 'order', Math.log2(e1/e2).toFixed(2)); }
});
