/**
 * Euler ancestral sampling (k-diffusion's `sample_euler_ancestral`, eta = 1) as diffusers 0.38's
 * `EulerAncestralDiscreteScheduler` (src/diffusers/schedulers/scheduling_euler_ancestral_discrete.py),
 * float32 like its torch tensors.
 */
import { discreteSigmaTable, sigmasAtTimesteps, type DiscreteSigmaTable } from './discrete-sigmas.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkInferenceSteps,
  checkPredictionType,
  drawStepNoise,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
import { SigmaSpaceScheduler } from './sigma-space-scheduler.js';
import { addScaledNoise, ancestralStep, eulerMove, odeDerivative, predictOriginalSample } from './sigma-step-math.js';
import { checkTimestepSpacing, float32Timesteps, type TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** `EulerAncestralDiscreteScheduler.__init__`'s defaults (diffusers 0.38). */
export const EULER_ANCESTRAL_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
};

export type EulerAncestralConfig = typeof EULER_ANCESTRAL_DEFAULTS;

/** Euler ancestral; `sigmas` holds N + 1 values: one per timestep, then 0. */
export class EulerAncestralDiscreteScheduler extends SigmaSpaceScheduler {
  readonly name = 'EulerAncestralDiscreteScheduler';
  readonly order = 1;
  readonly config: Readonly<EulerAncestralConfig>;
  protected readonly table: DiscreteSigmaTable;
  protected readonly spacing: TimestepSpacing;
  private readonly predictionType: PredictionType;

  /** `EulerAncestralDiscreteScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(EULER_ANCESTRAL_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { rescale_betas_zero_snr: false });
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, ['epsilon', 'v_prediction']);
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.table = discreteSigmaTable(this.config);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, c.num_train_timesteps);
    this.schedule = float32Timesteps(this.spacing, numInferenceSteps, c.num_train_timesteps, c.steps_offset);
    this.sigmaSchedule = [...sigmasAtTimesteps(this.schedule, this.table.sigmas), 0].map(f32);
    this.stepIndex.reset();
  }

  /** An Euler move down to `sigma_down`, then `sigma_up` times fresh noise (drawn every step, the last one too). */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(modelOutput, timestep, sample, options);
    const sigma = this.sigmaSchedule[index];
    const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigma);
    const { up, down } = ancestralStep(sigma, this.sigmaSchedule[index + 1]);
    const derivative = odeDerivative(sample, predOriginal, sigma);
    const moved = eulerMove(sample, derivative, f32(down - sigma));
    const noise = drawStepNoise(this.name, options);
    this.stepIndex.advance();
    return addScaledNoise(moved, noise, up);
  }
}
