/**
 * Linear multistep sampling in sigma (k-diffusion's `sample_lms`, order 4) as diffusers 0.38's
 * `LMSDiscreteScheduler` (src/diffusers/schedulers/scheduling_lms_discrete.py), float32 like its
 * torch tensors; the coefficients are integrals of Lagrange basis polynomials, which diffusers gets
 * from scipy.integrate.quad and Kiln from the same Gauss–Kronrod rule.
 */
import {
  checkSigmaConversion,
  convertSigmas,
  discreteSigmaTable,
  sigmasAtTimesteps,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import { resolveConfig } from './noise-schedule.js';
import { integrate } from './quadrature.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkInferenceSteps,
  checkPredictionType,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
import { SigmaSpaceScheduler } from './sigma-space-scheduler.js';
import { odeDerivative, predictOriginalSample } from './sigma-step-math.js';
import { checkTimestepSpacing, float32Timesteps, type TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** `LMSDiscreteScheduler.__init__`'s defaults (diffusers 0.38). */
export const LMS_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
};

export type LmsConfig = typeof LMS_DEFAULTS;

/** `step`'s default `order`: how many past derivatives the multistep formula uses. */
const LMS_ORDER = 4;

/**
 * The linear multistep coefficient of derivative `t - current` at step `t`: the integral over
 * [σ_t, σ_{t+1}] of the Lagrange basis polynomial through σ_t, …, σ_{t-order+1} that is 1 at
 * σ_{t-current} (`get_lms_coefficient`).
 */
export function lmsCoefficient(sigmas: readonly number[], order: number, t: number, current: number): number {
  const basis = (tau: number): number => {
    let product = 1;
    for (let k = 0; k < order; k++) {
      if (k === current) continue;
      product *= (tau - sigmas[t - k]) / (sigmas[t - current] - sigmas[t - k]);
    }
    return product;
  };
  return integrate(basis, sigmas[t], sigmas[t + 1], { epsAbs: 1e-13, epsRel: 1e-12 });
}

/** Linear multistep; `sigmas` holds N + 1 values: one per timestep, then 0. */
export class LMSDiscreteScheduler extends SigmaSpaceScheduler {
  readonly name = 'LMSDiscreteScheduler';
  readonly order = 1;
  readonly config: Readonly<LmsConfig>;
  protected readonly table: DiscreteSigmaTable;
  protected readonly spacing: TimestepSpacing;
  private readonly predictionType: PredictionType;
  /** The latest derivatives, oldest first, at most LMS_ORDER. */
  private derivatives: Float32Array[] = [];

  /** `LMSDiscreteScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(LMS_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { use_beta_sigmas: false });
    checkSigmaConversion(this.name, this.config);
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, [
      'epsilon',
      'sample',
      'v_prediction',
    ]);
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.table = discreteSigmaTable(this.config);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, c.num_train_timesteps);
    const grid = float32Timesteps(this.spacing, numInferenceSteps, c.num_train_timesteps, c.steps_offset);
    const gridSigmas = sigmasAtTimesteps(grid, this.table.sigmas);
    const { sigmas, timesteps } = convertSigmas(
      c,
      { sigmas: gridSigmas, timesteps: grid },
      numInferenceSteps,
      this.table.logSigmas,
    );
    this.sigmaSchedule = [...sigmas, 0].map(f32);
    this.schedule = timesteps.map(f32);
    this.stepIndex.reset();
    this.derivatives = [];
  }

  /** x_{t+1} = x_t + Σ_k c_k · d_{t-k}, the c_k integrating the polynomial through the last derivatives. */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(modelOutput, timestep, sample, options);
    const sigma = this.sigmaSchedule[index];
    const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigma);
    this.derivatives.push(odeDerivative(sample, predOriginal, sigma));
    if (this.derivatives.length > LMS_ORDER) this.derivatives.shift();

    const order = Math.min(index + 1, LMS_ORDER);
    // Python's sum(coeff * derivative for ...) pairs coefficient k with the k-th newest derivative,
    // each coefficient a Python float that torch casts to float32.
    const newestFirst = [...this.derivatives].reverse();
    const sum = new Float32Array(sample.length);
    // zip(lms_coeffs, reversed(derivatives)) stops at the shorter list: a run that starts part-way
    // (img2img's begin index) has fewer derivatives than `order` for its first steps.
    for (let k = 0; k < Math.min(order, newestFirst.length); k++) {
      const coefficient = f32(lmsCoefficient(this.sigmaSchedule, order, index, k));
      const derivative = newestFirst[k];
      for (let i = 0; i < sum.length; i++) sum[i] = f32(sum[i] + f32(coefficient * derivative[i]));
    }
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < prev.length; i++) prev[i] = f32(sample[i] + sum[i]);
    this.stepIndex.advance();
    return prev;
  }
}
