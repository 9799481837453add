/**
 * diffusers' `DPMSolverSinglestepScheduler`: singlestep DPM-Solver(++) (arXiv:2206.00927,
 * arXiv:2211.01095). Steps are grouped by the order list ([1, 2, 1, 2, …] for order 2); a group
 * of order k integrates from the sample at its first step over k model evaluations.
 *
 * Symbols as in dpm-multistep.scheduler.ts (α_t, σ_t, λ, h, r0, D0, D1), except that h and the
 * ratios are measured from the group's first point s1 (order 2) or s2 (order 3).
 */
import { randnPerItem } from '../rng/random-source.js';
import { sigmasAtTimesteps } from './discrete-sigmas.js';
import {
  configNumber,
  dpmSolverAlgorithm,
  dpmSolverType,
  finalSigma,
  karrasScheduleOver,
  lastTimestepAfterClipping,
  vpTrainingSchedule,
  type DpmSolverType,
  type VpTrainingSchedule,
} from './dpm-solver-common.js';
import { DpmSolverFamilyScheduler } from './dpm-solver-family-scheduler.js';
import { firstOrderUpdate, secondOrderUpdate, thirdOrderUpdate, updateSpan } from './dpm-solver-updates.js';
import { scaledDifferenceF32 } from './float32-linear-combination.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import { rejectEnabledOptions } from './scheduler-guards.js';
import { numpyRound, spacedIntegerTimesteps } from './timestep-spacing.js';

const f32 = Math.fround;

/** `DPMSolverSinglestepScheduler.__init__` defaults of diffusers 0.38 (it has no timestep_spacing). */
export const DPM_SINGLESTEP_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity as number | string,
  variance_type: null as string | null,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
};

export type DpmSinglestepConfig = typeof DPM_SINGLESTEP_DEFAULTS;

type AlgorithmType = 'dpmsolver' | 'dpmsolver++' | 'sde-dpmsolver++';

/** Singlestep DPM-Solver(++) sampler, following diffusers' float32 arithmetic. */
export class DPMSolverSinglestepScheduler extends DpmSolverFamilyScheduler {
  readonly name = 'DPMSolverSinglestepScheduler';
  readonly config: DpmSinglestepConfig;
  /** Solver order of each step. */
  orderList: number[] = [];

  protected readonly training: VpTrainingSchedule;
  private readonly algorithm: AlgorithmType;
  private readonly solverType: DpmSolverType;
  private modelOutputs: (Float32Array | null)[] = [];
  /** The sample at the first step of the current order group. */
  private groupSample: Float32Array | null = null;

  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(DPM_SINGLESTEP_DEFAULTS, config, extra);
    const c = this.config;
    rejectEnabledOptions(this.name, c, {
      thresholding: false,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      use_flow_sigmas: false,
      use_dynamic_shifting: false,
      variance_type: null,
    });
    this.algorithm = dpmSolverAlgorithm<AlgorithmType>(this.name, c.algorithm_type, [
      'dpmsolver',
      'dpmsolver++',
      'sde-dpmsolver++',
    ]);
    this.solverType = dpmSolverType(this.name, c.solver_type);
    if (this.algorithm === 'dpmsolver' && c.final_sigmas_type === 'zero') {
      throw new Error(`${this.name}: final_sigmas_type zero is not supported for algorithm_type dpmsolver`);
    }
    if (![1, 2, 3].includes(c.solver_order)) throw new Error(`${this.name}: solver_order must be 1, 2 or 3`);
    this.training = vpTrainingSchedule(c);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const train = this.training;
    const lastTimestep = lastTimestepAfterClipping(
      train.lambdas,
      configNumber(c.lambda_min_clipped, 'lambda_min_clipped'),
    );
    // Singlestep always spaces linearly: linspace(0, T - 1 - clipped, n + 1), rounded, reversed.
    let timesteps = spacedIntegerTimesteps('linspace', numInferenceSteps, lastTimestep, c.num_train_timesteps, 0);
    let sigmas: number[];
    if (c.use_karras_sigmas) {
      const karras = karrasScheduleOver(train, numInferenceSteps);
      sigmas = karras.sigmas;
      timesteps = karras.timesteps.map(numpyRound);
    } else {
      sigmas = sigmasAtTimesteps(timesteps, train.sigmas);
    }
    this.sigmas = [...sigmas, finalSigma(this.name, c.final_sigmas_type, train.sigmas[0])].map(f32);
    this.timesteps = timesteps;
    this.modelOutputs = new Array(c.solver_order).fill(null);
    this.groupSample = null;
    // diffusers switches lower_order_final on for uneven step counts and for a zero final sigma,
    // and the switch persists in the config.
    if (!c.lower_order_final && (numInferenceSteps % c.solver_order !== 0 || c.final_sigmas_type === 'zero')) {
      c.lower_order_final = true;
    }
    this.orderList = this.computeOrderList(numInferenceSteps);
    this.stepIndex.reset();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(timestep);
    const converted = this.convertModelOutput(modelOutput, sample, this.algorithm !== 'dpmsolver');
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);

    let noise: Float32Array | null = null;
    if (this.algorithm === 'sde-dpmsolver++') {
      if (!options.generators) throw new Error(`${this.name}: sde-dpmsolver++ needs generators for its noise`);
      noise = randnPerItem(options.generators, options.shape);
    }

    let order = this.orderList[index];
    // img2img may start inside a group: lower the order until the history suffices.
    while (this.modelOutputs[this.modelOutputs.length - order] === null) order--;
    if (order === 1) this.groupSample = sample;

    const groupSample = this.groupSample as Float32Array;
    let prevSample: Float32Array;
    if (order === 1) {
      const span = updateSpan(this.pointAt(index + 1), this.pointAt(index));
      prevSample = firstOrderUpdate(this.algorithm, span, converted, groupSample, noise);
    } else if (order === 2) {
      prevSample = this.secondOrderUpdate(index, groupSample, noise);
    } else {
      prevSample = this.thirdOrderUpdate(index, groupSample, noise);
    }
    this.stepIndex.advance();
    return prevSample;
  }

  /** diffusers' `get_order_list`. */
  private computeOrderList(steps: number): number[] {
    const order = this.config.solver_order;
    const repeat = (pattern: number[], times: number) =>
      Array.from({ length: Math.max(times, 0) }, () => pattern).flat();
    let orders: number[];
    if (this.config.lower_order_final) {
      if (order === 3) {
        if (steps % 3 === 0) orders = [...repeat([1, 2, 3], steps / 3 - 1), 1, 2, 1];
        else if (steps % 3 === 1) orders = [...repeat([1, 2, 3], Math.floor(steps / 3)), 1];
        else orders = [...repeat([1, 2, 3], Math.floor(steps / 3)), 1, 2];
      } else if (order === 2) {
        orders =
          steps % 2 === 0 ? [...repeat([1, 2], steps / 2 - 1), 1, 1] : [...repeat([1, 2], Math.floor(steps / 2)), 1];
      } else {
        orders = new Array(steps).fill(1);
      }
    } else if (order === 3) {
      orders = repeat([1, 2, 3], Math.floor(steps / 3));
    } else if (order === 2) {
      orders = repeat([1, 2], Math.floor(steps / 2));
    } else {
      orders = new Array(steps).fill(1);
    }
    if (this.config.final_sigmas_type === 'zero') orders[orders.length - 1] = 1;
    return orders;
  }

  /** Order 2: from the group's first sample at sigmas[i - 1] to sigmas[i + 1]. */
  private secondOrderUpdate(index: number, sample: Float32Array, noise: Float32Array | null): Float32Array {
    const s0 = this.pointAt(index);
    const s1 = this.pointAt(index - 1);
    const span = updateSpan(this.pointAt(index + 1), s1);
    const [m1, m0] = this.modelOutputs.slice(-2) as Float32Array[];
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / span.h);
    const D0 = m1;
    const D1 = scaledDifferenceF32(m0, m1, f32(1 / r0));
    return secondOrderUpdate(this.algorithm, this.solverType, span, D0, D1, sample, noise);
  }

  /** Order 3: from the group's first sample at sigmas[i - 2] to sigmas[i + 1]. */
  private thirdOrderUpdate(index: number, sample: Float32Array, noise: Float32Array | null): Float32Array {
    const s0 = this.pointAt(index);
    const s1 = this.pointAt(index - 1);
    const s2 = this.pointAt(index - 2);
    const span = updateSpan(this.pointAt(index + 1), s2);
    const [m2, m1, m0] = this.modelOutputs.slice(-3) as Float32Array[];
    const h0 = f32(s0.lambda - s2.lambda);
    const h1 = f32(s1.lambda - s2.lambda);
    const r0 = f32(h0 / span.h);
    const r1 = f32(h1 / span.h);
    const D0 = m2;
    const D1_0 = scaledDifferenceF32(m1, m2, f32(1 / r1));
    const D1_1 = scaledDifferenceF32(m0, m2, f32(1 / r0));
    if (this.solverType === 'midpoint') {
      // The midpoint solver takes D1_1 as its D1 and has no second-difference term.
      return thirdOrderUpdate(this.algorithm, span, D0, D1_1, null, sample, noise);
    }
    // D1 = (r0 * D1_0 - r1 * D1_1) / (r0 - r1);  D2 = 2 * (D1_1 - D1_0) / (r0 - r1)
    const rDiff = f32(r0 - r1);
    const D1 = new Float32Array(D0.length);
    const D2 = new Float32Array(D0.length);
    for (let i = 0; i < D0.length; i++) {
      D1[i] = f32(f32(f32(r0 * D1_0[i]) - f32(r1 * D1_1[i])) / rDiff);
      D2[i] = f32(f32(2 * f32(D1_1[i] - D1_0[i])) / rDiff);
    }
    return thirdOrderUpdate(this.algorithm, span, D0, D1, D2, sample, noise);
  }
}
