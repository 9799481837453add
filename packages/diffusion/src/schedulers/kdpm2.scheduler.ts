/**
 * DPM-Solver-2 in k-diffusion's form (`sample_dpm_2`: a midpoint step at the geometric mean of
 * consecutive sigmas) as diffusers 0.38's `KDPM2DiscreteScheduler`
 * (src/diffusers/schedulers/scheduling_k_dpm_2_discrete.py), float32 like its torch tensors.
 * Two model calls per step: the schedule interleaves each step's midpoint timestep (2N - 1 in all).
 */
import {
  addNoiseAtSigma,
  discreteSigmaTable,
  exponentialSigmasFrom,
  initNoiseSigmaOf,
  interleaveSecondOrder,
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
import { eulerMove, odeDerivative, predictOriginalSample } from './sigma-step-math.js';
import { checkTimestepSpacing, float32Timesteps, numpyRound, type TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** `KDPM2DiscreteScheduler.__init__`'s defaults (diffusers 0.38); also KDPM2AncestralDiscreteScheduler's. */
export const KDPM2_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
};

export type Kdpm2Config = typeof KDPM2_DEFAULTS;

/** `log()` of a float32 tensor element (-inf at 0). */
export function logF32(x: number): number {
  return f32(Math.log(x));
}

/** `a.lerp(b, 0.5)` on float32 tensors: torch computes `b - (b - a) * 0.5` for weights >= 0.5. */
export function lerpHalfF32(a: number, b: number): number {
  return f32(b - f32(f32(b - a) * 0.5));
}

/**
 * The step's base schedule, shared with the ancestral variant: inference timesteps and float32
 * sigmas (N + 1, ending in 0), Karras timesteps rounded to integers as diffusers does for KDPM2.
 */
export function kdpm2BaseSchedule(
  config: Kdpm2Config,
  spacing: TimestepSpacing,
  table: DiscreteSigmaTable,
  numInferenceSteps: number,
): { timesteps: number[]; sigmas: number[] } {
  let timesteps = float32Timesteps(spacing, numInferenceSteps, config.num_train_timesteps, config.steps_offset);
  let sigmas = sigmasAtTimesteps(timesteps, table.sigmas);
  if (config.use_karras_sigmas) {
    sigmas = karrasSigmasFrom(sigmas, numInferenceSteps);
    timesteps = sigmas.map((s) => numpyRound(sigmaToTimestep(s, table.logSigmas, 'numpy-float64')));
  } else if (config.use_exponential_sigmas) {
    sigmas = exponentialSigmasFrom(sigmas, numInferenceSteps);
    timesteps = sigmas.map((s) => sigmaToTimestep(s, table.logSigmas, 'numpy-float64'));
  }
  // With Karras/exponential sigmas the timesteps stay float64 tensors; their values are the same.
  return { timesteps: config.use_karras_sigmas ? timesteps : timesteps.map(f32), sigmas: [...sigmas, 0].map(f32) };
}

/** Checks shared by both KDPM2 variants' constructors. */
export function checkKdpm2Config(
  className: string,
  config: Kdpm2Config,
): { predictionType: PredictionType; spacing: TimestepSpacing } {
  rejectEnabledOptions(className, config, { use_beta_sigmas: false });
  if (config.use_karras_sigmas && config.use_exponential_sigmas) {
    throw new Error(`${className}: only one of use_karras_sigmas and use_exponential_sigmas can be set`);
  }
  return {
    predictionType: checkPredictionType(className, config.prediction_type, ['epsilon', 'v_prediction']),
    spacing: checkTimestepSpacing(className, config.timestep_spacing),
  };
}

export class KDPM2DiscreteScheduler implements Scheduler {
  readonly name = 'KDPM2DiscreteScheduler';
  readonly order = 2;
  readonly config: Readonly<Kdpm2Config>;
  private readonly table: DiscreteSigmaTable;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private schedule: number[] = [];
  private sigmaSchedule: number[] = [];
  /** Midpoint sigmas sqrt(σ_{i-1} σ_i), interleaved like `sigmaSchedule` (the first is NaN). */
  private midpointSigmas: number[] = [];
  private readonly stepIndex = new StepIndex();
  /** The sample at the start of a step, held between its two calls. */
  private pendingSample: Float32Array | null = null;

  /** `KDPM2DiscreteScheduler.from_config(config, **extra)`; `{ use_karras_sigmas: true }` gives DPM_2_KARRAS. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    this.config = resolveConfig(KDPM2_DEFAULTS, config, extra);
    ({ predictionType: this.predictionType, spacing: this.spacing } = checkKdpm2Config(this.name, this.config));
    this.table = discreteSigmaTable(this.config);
  }

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** 2N + 2 sigmas: σ_0, σ_1 … σ_N (= 0) twice each, then 0 again. */
  get sigmas(): readonly number[] {
    return this.sigmaSchedule;
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.sigmaSchedule.length > 0 ? this.sigmaSchedule : this.table.sigmas, this.spacing);
  }

  get stateInFirstOrder(): boolean {
    return this.pendingSample === null;
  }

  setTimesteps(numInferenceSteps: number): void {
    checkInferenceSteps(this.name, numInferenceSteps, this.config.num_train_timesteps);
    const { timesteps, sigmas } = kdpm2BaseSchedule(this.config, this.spacing, this.table, numInferenceSteps);
    // sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp(): NaN first (lerp of +/-inf), 0 last.
    const logs = sigmas.map(logF32);
    const midpoints = logs.map((log, i) => f32(Math.exp(lerpHalfF32(log, logs[(i + logs.length - 1) % logs.length]))));
    this.sigmaSchedule = interleaveSecondOrder(sigmas);
    this.midpointSigmas = interleaveSecondOrder(midpoints);
    const midpointTimesteps = midpoints.map((s) => sigmaToTimestep(s, this.table.logSigmas, 'torch-float32'));
    // cat([t[:1], stack(t_mid[1:-1], t[1:]).flatten()])
    const interleaved: number[] = [timesteps[0]];
    for (let i = 1; i < timesteps.length; i++) interleaved.push(midpointTimesteps[i], timesteps[i]);
    this.schedule = interleaved;
    this.pendingSample = null;
    this.stepIndex.reset();
  }

  private currentIndex(timestep: number, method: string): number {
    if (this.schedule.length === 0) throw notReadyError(this.name, method);
    return this.stepIndex.at(this.schedule, timestep);
  }

  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const index = this.currentIndex(timestep, 'scaleModelInput');
    const sigma = this.stateInFirstOrder ? this.sigmaSchedule[index] : this.midpointSigmas[index];
    return scaleBySigma(sample, sigma);
  }

  /**
   * First call: Euler from σ to the midpoint σ_mid. Second call (model run at σ_mid): the derivative
   * there carries the step's own start sample all the way to σ_next.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.currentIndex(timestep, 'step');
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    const pending = this.pendingSample;
    let prev: Float32Array;
    if (!pending) {
      const sigma = this.sigmaSchedule[index];
      const sigmaMid = this.midpointSigmas[index + 1];
      const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigma);
      const derivative = odeDerivative(sample, predOriginal, sigma);
      this.pendingSample = sample;
      prev = eulerMove(sample, derivative, f32(sigmaMid - sigma));
    } else {
      const sigma = this.sigmaSchedule[index - 1];
      const sigmaMid = this.midpointSigmas[index];
      const sigmaNext = this.sigmaSchedule[index];
      const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigmaMid);
      const derivative = odeDerivative(sample, predOriginal, sigmaMid);
      this.pendingSample = null;
      prev = eulerMove(pending, derivative, f32(sigmaNext - sigma));
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
