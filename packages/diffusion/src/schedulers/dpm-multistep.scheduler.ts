/**
 * diffusers' `DPMSolverMultistepScheduler` (DPM-Solver, arXiv:2206.00927, and DPM-Solver++,
 * arXiv:2211.01095): the multistep exponential integrator with data (`dpmsolver++`) or noise
 * (`dpmsolver`) prediction, and the SDE variants that add fresh noise every step.
 *
 * Symbols as in the papers: a k-diffusion sigma σ gives α_t = 1/sqrt(1 + σ²) and σ_t = σ·α_t;
 * λ = log α_t − log σ_t is the half log-SNR, h = λ_t − λ_s the step from s to t; m0, m1, m2 are
 * the converted model outputs of the current and earlier steps, r0 = h0/h their step ratio and
 * D0, D1, D2 the divided differences the 2nd/3rd-order updates use.
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
  type DpmSolverAlgorithm,
  type DpmSolverType,
  type VpTrainingSchedule,
} from './dpm-solver-common.js';
import { DpmSolverFamilyScheduler } from './dpm-solver-family-scheduler.js';
import { firstOrderUpdate, secondOrderUpdate, thirdOrderUpdate, updateSpan } from './dpm-solver-updates.js';
import { scaledDifferenceF32 } from './float32-linear-combination.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import { rejectEnabledOptions } from './scheduler-guards.js';
import { numpyRound, spacedIntegerTimesteps, type TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** `DPMSolverMultistepScheduler.__init__` defaults of diffusers 0.38. */
export const DPM_MULTISTEP_DEFAULTS = {
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
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity as number | string,
  variance_type: null as string | null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
};

export type DpmMultistepConfig = typeof DPM_MULTISTEP_DEFAULTS;

/** DPM-Solver(++) multistep sampler, bit-faithful to diffusers' float32 arithmetic. */
export class DPMSolverMultistepScheduler extends DpmSolverFamilyScheduler {
  readonly name = 'DPMSolverMultistepScheduler';
  readonly config: DpmMultistepConfig;
  protected readonly training: VpTrainingSchedule;
  private readonly algorithm: DpmSolverAlgorithm;
  private readonly solverType: DpmSolverType;
  /** Converted model outputs of the last `solver_order` steps, oldest first. */
  private modelOutputs: (Float32Array | null)[] = [];
  private lowerOrderNums = 0;

  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(DPM_MULTISTEP_DEFAULTS, config, extra);
    const c = this.config;
    rejectEnabledOptions(this.name, c, {
      thresholding: false,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      use_lu_lambdas: false,
      use_flow_sigmas: false,
      rescale_betas_zero_snr: false,
      use_dynamic_shifting: false,
      variance_type: null,
    });
    this.algorithm = dpmSolverAlgorithm(this.name, c.algorithm_type, [
      'dpmsolver',
      'dpmsolver++',
      'sde-dpmsolver',
      'sde-dpmsolver++',
    ]);
    this.solverType = dpmSolverType(this.name, c.solver_type);
    if (!this.algorithm.endsWith('dpmsolver++') && c.final_sigmas_type === 'zero') {
      throw new Error(
        `${this.name}: final_sigmas_type zero is not supported for algorithm_type ${this.algorithm}; choose sigma_min`,
      );
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
    let timesteps = spacedIntegerTimesteps(
      c.timestep_spacing as TimestepSpacing,
      numInferenceSteps,
      lastTimestep,
      c.num_train_timesteps,
      c.steps_offset,
    );
    let sigmas: number[];
    if (c.use_karras_sigmas) {
      const karras = karrasScheduleOver(train, numInferenceSteps);
      sigmas = karras.sigmas;
      // The cosine schedule keeps fractional timesteps; the int64 cast then truncates them.
      timesteps = karras.timesteps.map((t) =>
        c.beta_schedule === 'squaredcos_cap_v2' ? Math.trunc(t) : numpyRound(t),
      );
    } else {
      sigmas = sigmasAtTimesteps(timesteps, train.sigmas);
    }
    this.sigmas = [...sigmas, finalSigma(this.name, c.final_sigmas_type, train.sigmas[0])].map(f32);
    this.timesteps = timesteps;
    this.modelOutputs = new Array(c.solver_order).fill(null);
    this.lowerOrderNums = 0;
    this.stepIndex.reset();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(timestep);
    const c = this.config;
    const count = this.timesteps.length;
    // Lower orders at the very end stabilise few-step sampling (and a zero final sigma needs order 1).
    const lowerOrderFinal =
      index === count - 1 &&
      (c.euler_at_final || (c.lower_order_final && count < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = index === count - 2 && c.lower_order_final && count < 15;

    const converted = this.convertModelOutput(modelOutput, sample, this.algorithm.endsWith('dpmsolver++'));
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);

    let noise: Float32Array | null = null;
    if (this.algorithm.startsWith('sde-')) {
      if (!options.generators) throw new Error(`${this.name}: ${this.algorithm} needs generators for its noise`);
      noise = randnPerItem(options.generators, options.shape);
    }

    let prevSample: Float32Array;
    if (c.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) {
      const span = updateSpan(this.pointAt(index + 1), this.pointAt(index));
      prevSample = firstOrderUpdate(this.algorithm, span, converted, sample, noise);
    } else if (c.solver_order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) {
      prevSample = this.secondOrderUpdate(index, sample, noise);
    } else {
      prevSample = this.thirdOrderUpdate(index, sample, noise);
    }
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    this.stepIndex.advance();
    return prevSample;
  }

  /** Second-order multistep update from the last two converted outputs, based at the current step. */
  private secondOrderUpdate(index: number, sample: Float32Array, noise: Float32Array | null): Float32Array {
    const s0 = this.pointAt(index);
    const s1 = this.pointAt(index - 1);
    const span = updateSpan(this.pointAt(index + 1), s0);
    const [m1, m0] = this.modelOutputs.slice(-2) as Float32Array[];
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / span.h);
    const D0 = m0;
    const D1 = scaledDifferenceF32(m0, m1, f32(1 / r0));
    return secondOrderUpdate(this.algorithm, this.solverType, span, D0, D1, sample, noise);
  }

  /** Third-order multistep update from the last three converted outputs, based at the current step. */
  private thirdOrderUpdate(index: number, sample: Float32Array, noise: Float32Array | null): Float32Array {
    if (this.algorithm === 'sde-dpmsolver') {
      throw new Error(`${this.name}: solver_order 3 is not implemented for sde-dpmsolver (as in diffusers)`);
    }
    const s0 = this.pointAt(index);
    const s1 = this.pointAt(index - 1);
    const s2 = this.pointAt(index - 2);
    const span = updateSpan(this.pointAt(index + 1), s0);
    const [m2, m1, m0] = this.modelOutputs.slice(-3) as Float32Array[];
    const h0 = f32(s0.lambda - s1.lambda);
    const h1 = f32(s1.lambda - s2.lambda);
    const r0 = f32(h0 / span.h);
    const r1 = f32(h1 / span.h);
    const D0 = m0;
    const D1_0 = scaledDifferenceF32(m0, m1, f32(1 / r0));
    const D1_1 = scaledDifferenceF32(m1, m2, f32(1 / r1));
    // D1 = D1_0 + r0/(r0+r1) * (D1_0 - D1_1);  D2 = 1/(r0+r1) * (D1_0 - D1_1)
    const D1 = new Float32Array(D0.length);
    const D2 = new Float32Array(D0.length);
    const w1 = f32(r0 / f32(r0 + r1));
    const w2 = f32(1 / f32(r0 + r1));
    for (let i = 0; i < D0.length; i++) {
      const diff = f32(D1_0[i] - D1_1[i]);
      D1[i] = f32(D1_0[i] + f32(w1 * diff));
      D2[i] = f32(w2 * diff);
    }
    return thirdOrderUpdate(this.algorithm, span, D0, D1, D2, sample, noise);
  }
}
