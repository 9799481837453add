/**
 * Heun's second-order method on the probability-flow ODE (Karras et al., arXiv:2206.00364,
 * algorithm 1) as diffusers 0.38's `HeunDiscreteScheduler`
 * (src/diffusers/schedulers/scheduling_heun_discrete.py), float32 like its torch tensors.
 * Each of the N steps takes two model calls (an Euler predictor, then the trapezoidal corrector),
 * so the schedule holds 2N - 1 timesteps: every one after the first appears twice.
 */
import {
  checkSigmaConversion,
  convertSigmas,
  discreteSigmaTable,
  repeatAfterFirst,
  sigmasAtTimesteps,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkInferenceSteps,
  checkPredictionType,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
import { SigmaSpaceScheduler } from './sigma-space-scheduler.js';
import { clampSymmetric, eulerMove, odeDerivative, predictOriginalSample } from './sigma-step-math.js';
import { checkTimestepSpacing, float32Timesteps, type TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** `HeunDiscreteScheduler.__init__`'s defaults (diffusers 0.38). */
export const HEUN_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  prediction_type: 'epsilon',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  clip_sample: false,
  clip_sample_range: 1.0,
  timestep_spacing: 'linspace',
  steps_offset: 0,
};

export type HeunConfig = typeof HEUN_DEFAULTS;

/** What the predictor (first-order) half of a step leaves for the corrector. */
interface PendingHeunStep {
  derivative: Float32Array;
  dt: number;
  sample: Float32Array;
}

/** Heun's method; `sigmas` holds 2N values: σ_0, then σ_1 … σ_{N-1} twice each, then 0. */
export class HeunDiscreteScheduler extends SigmaSpaceScheduler {
  readonly name = 'HeunDiscreteScheduler';
  readonly order = 2;
  readonly config: Readonly<HeunConfig>;
  protected readonly table: DiscreteSigmaTable;
  protected readonly spacing: TimestepSpacing;
  private readonly predictionType: PredictionType;
  /** Set between the predictor and the corrector call ("second order state"). */
  private pending: PendingHeunStep | null = null;

  /** `HeunDiscreteScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(HEUN_DEFAULTS, config, extra);
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

  /** True while the next call is a predictor (first-order) half. */
  get stateInFirstOrder(): boolean {
    return this.pending === null;
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
    // cat([s[:1], s[1:-1].repeat_interleave(2), s[-1:]]) of the sigmas with their final 0,
    // and cat([t[:1], t[1:].repeat_interleave(2)])
    this.sigmaSchedule = [...repeatAfterFirst(sigmas.map(f32)), 0];
    this.schedule = repeatAfterFirst(timesteps.map(f32));
    this.pending = null;
    this.stepIndex.reset();
  }

  /**
   * Predictor: d = (x - x̂0(σ)) / σ, x' = x + d · (σ_next - σ). Corrector (next call, model run at
   * σ_next on x'): d' = (x' - x̂0(σ_next)) / σ_next, x_next = x + (d + d')/2 · (σ_next - σ).
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(modelOutput, timestep, sample, options);
    const pending = this.pending;
    const sigma = pending ? this.sigmaSchedule[index - 1] : this.sigmaSchedule[index];
    const sigmaNext = pending ? this.sigmaSchedule[index] : this.sigmaSchedule[index + 1];
    const sigmaInput = pending ? sigmaNext : sigma;
    let predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigmaInput);
    if (this.config.clip_sample) predOriginal = clampSymmetric(predOriginal, this.config.clip_sample_range);

    let prev: Float32Array;
    if (!pending) {
      const derivative = odeDerivative(sample, predOriginal, sigma);
      const dt = f32(sigmaNext - sigma);
      this.pending = { derivative, dt, sample };
      prev = eulerMove(sample, derivative, dt);
    } else {
      const corrector = odeDerivative(sample, predOriginal, sigmaNext);
      const averaged = corrector.map((d, i) => f32(f32(pending.derivative[i] + d) / 2));
      this.pending = null;
      prev = eulerMove(pending.sample, averaged, pending.dt);
    }
    this.stepIndex.advance();
    return prev;
  }
}
