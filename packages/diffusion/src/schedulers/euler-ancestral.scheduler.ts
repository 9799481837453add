/**
 * Euler ancestral sampling (k-diffusion's `sample_euler_ancestral`, eta = 1) as diffusers 0.38's
 * `EulerAncestralDiscreteScheduler` (src/diffusers/schedulers/scheduling_euler_ancestral_discrete.py),
 * float32 like its torch tensors.
 */
import {
  addNoiseAtSigma,
  discreteSigmaTable,
  initNoiseSigmaOf,
  scaleBySigma,
  sigmasAtTimesteps,
  StepIndex,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import { resolveConfig } from './noise-schedule.js';
import type { Scheduler, SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkStepTensors,
  checkInferenceSteps,
  checkPredictionType,
  drawStepNoise,
  notReadyError,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
import { addScaledNoise, eulerMove, odeDerivative, predictOriginalSample } from './sigma-step-math.js';
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

/**
 * k-diffusion's `get_ancestral_step` (eta = 1) in float32: the step goes deterministically down to
 * `down` and adds fresh noise of size `up`, with down² + up² = to².
 */
export function ancestralStep(sigmaFrom: number, sigmaTo: number): { up: number; down: number } {
  const fromSq = f32(sigmaFrom * sigmaFrom);
  const toSq = f32(sigmaTo * sigmaTo);
  const up = f32(Math.sqrt(f32(f32(toSq * f32(fromSq - toSq)) / fromSq)));
  const down = f32(Math.sqrt(f32(toSq - f32(up * up))));
  return { up, down };
}

export class EulerAncestralDiscreteScheduler implements Scheduler {
  readonly name = 'EulerAncestralDiscreteScheduler';
  readonly order = 1;
  readonly config: Readonly<EulerAncestralConfig>;
  private readonly table: DiscreteSigmaTable;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private schedule: number[] = [];
  private sigmaSchedule: number[] = [];
  private readonly stepIndex = new StepIndex();

  /** `EulerAncestralDiscreteScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    this.config = resolveConfig(EULER_ANCESTRAL_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { rescale_betas_zero_snr: false });
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, ['epsilon', 'v_prediction']);
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.table = discreteSigmaTable(this.config);
  }

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** N + 1 sigmas: one per timestep, then 0. */
  get sigmas(): readonly number[] {
    return this.sigmaSchedule;
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.sigmaSchedule.length > 0 ? this.sigmaSchedule : this.table.sigmas, this.spacing);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, c.num_train_timesteps);
    this.schedule = float32Timesteps(this.spacing, numInferenceSteps, c.num_train_timesteps, c.steps_offset);
    this.sigmaSchedule = [...sigmasAtTimesteps(this.schedule, this.table.sigmas), 0].map(f32);
    this.stepIndex.reset();
  }

  private currentIndex(timestep: number, method: string): number {
    if (this.schedule.length === 0) throw notReadyError(this.name, method);
    return this.stepIndex.at(this.schedule, timestep);
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return scaleBySigma(sample, this.sigmaSchedule[this.currentIndex(timestep, 'scaleModelInput')]);
  }

  /** An Euler move down to `sigma_down`, then `sigma_up` times fresh noise (drawn every step, the last one too). */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.currentIndex(timestep, 'step');
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    const sigma = this.sigmaSchedule[index];
    const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigma);
    const { up, down } = ancestralStep(sigma, this.sigmaSchedule[index + 1]);
    const derivative = odeDerivative(sample, predOriginal, sigma);
    const moved = eulerMove(sample, derivative, f32(down - sigma));
    const noise = drawStepNoise(this.name, options);
    this.stepIndex.advance();
    return addScaledNoise(moved, noise, up);
  }

  /** diffusers' `set_begin_index`: the loop starts at `timesteps[beginIndex]` (img2img, inpainting). */
  setBeginIndex(beginIndex: number): void {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'setBeginIndex');
    this.stepIndex.setBegin(beginIndex, this.schedule.length, this.name);
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'addNoise');
    return addNoiseAtSigma(original, noise, this.sigmaSchedule[this.stepIndex.forNoise(this.schedule, timestep)]);
  }
}
