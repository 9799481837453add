/**
 * Heun's second-order method on the probability-flow ODE (Karras et al., arXiv:2206.00364,
 * algorithm 1) as diffusers 0.38's `HeunDiscreteScheduler`
 * (src/diffusers/schedulers/scheduling_heun_discrete.py), float32 like its torch tensors.
 * Each of the N steps takes two model calls (an Euler predictor, then the trapezoidal corrector),
 * so the schedule holds 2N - 1 timesteps: every one after the first appears twice.
 */
import {
  addNoiseAtSigma,
  discreteSigmaTable,
  exponentialSigmasFrom,
  initNoiseSigmaOf,
  karrasSigmasFrom,
  scaleBySigma,
  sigmasAtTimesteps,
  sigmaToTimestep,
  StepIndex,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import { resolveConfig } from './noise-schedule.js';
import type { Scheduler, SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkStepTensors,
  checkInferenceSteps,
  checkPredictionType,
  notReadyError,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
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

export class HeunDiscreteScheduler implements Scheduler {
  readonly name = 'HeunDiscreteScheduler';
  readonly order = 2;
  readonly config: Readonly<HeunConfig>;
  private readonly table: DiscreteSigmaTable;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private schedule: number[] = [];
  private sigmaSchedule: number[] = [];
  private readonly stepIndex = new StepIndex();
  /** Set between the predictor and the corrector call ("second order state"). */
  private pending: PendingHeunStep | null = null;

  /** `HeunDiscreteScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    this.config = resolveConfig(HEUN_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { use_beta_sigmas: false });
    if (this.config.use_karras_sigmas && this.config.use_exponential_sigmas) {
      throw new Error(`${this.name}: only one of use_karras_sigmas and use_exponential_sigmas can be set`);
    }
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, ['epsilon', 'sample', 'v_prediction']);
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.table = discreteSigmaTable(this.config);
  }

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** 2N sigmas: σ_0, then σ_1 … σ_{N-1} twice each, then 0. */
  get sigmas(): readonly number[] {
    return this.sigmaSchedule;
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.sigmaSchedule.length > 0 ? this.sigmaSchedule : this.table.sigmas, this.spacing);
  }

  /** True while the next call is a predictor (first-order) half. */
  get stateInFirstOrder(): boolean {
    return this.pending === null;
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, c.num_train_timesteps);
    let timesteps = float32Timesteps(this.spacing, numInferenceSteps, c.num_train_timesteps, c.steps_offset);
    let sigmas = sigmasAtTimesteps(timesteps, this.table.sigmas);
    if (c.use_karras_sigmas) {
      sigmas = karrasSigmasFrom(sigmas, numInferenceSteps);
      timesteps = sigmas.map((s) => sigmaToTimestep(s, this.table.logSigmas, 'numpy-float64'));
    } else if (c.use_exponential_sigmas) {
      sigmas = exponentialSigmasFrom(sigmas, numInferenceSteps);
      timesteps = sigmas.map((s) => sigmaToTimestep(s, this.table.logSigmas, 'numpy-float64'));
    }
    const withFinal = [...sigmas, 0].map(f32);
    // cat([s[:1], s[1:-1].repeat_interleave(2), s[-1:]]) and cat([t[:1], t[1:].repeat_interleave(2)])
    this.sigmaSchedule = [withFinal[0], ...withFinal.slice(1, -1).flatMap((s) => [s, s]), withFinal[withFinal.length - 1]];
    const ts = timesteps.map(f32);
    this.schedule = [ts[0], ...ts.slice(1).flatMap((t) => [t, t])];
    this.pending = null;
    this.stepIndex.reset();
  }

  private currentIndex(timestep: number, method: string): number {
    if (this.schedule.length === 0) throw notReadyError(this.name, method);
    return this.stepIndex.at(this.schedule, timestep);
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return scaleBySigma(sample, this.sigmaSchedule[this.currentIndex(timestep, 'scaleModelInput')]);
  }

  /**
   * Predictor: d = (x - x̂0(σ)) / σ, x' = x + d · (σ_next - σ). Corrector (next call, model run at
   * σ_next on x'): d' = (x' - x̂0(σ_next)) / σ_next, x_next = x + (d + d')/2 · (σ_next - σ).
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.currentIndex(timestep, 'step');
    checkStepTensors(this.name, modelOutput, sample, options.shape);
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
