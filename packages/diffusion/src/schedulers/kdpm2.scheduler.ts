/**
 * DPM-Solver-2 in k-diffusion's form (`sample_dpm_2`: a midpoint step at the geometric mean of
 * consecutive sigmas) as diffusers 0.38's `KDPM2DiscreteScheduler`
 * (src/diffusers/schedulers/scheduling_k_dpm_2_discrete.py), float32 like its torch tensors.
 * Two model calls per step: the schedule interleaves each step's midpoint timestep (2N - 1 in all).
 */
import {
  checkSigmaConversion,
  convertSigmas,
  discreteSigmaTable,
  interleaveMidpoints,
  interleaveSecondOrder,
  logMidpointF32,
  scaleBySigma,
  sigmasAtTimesteps,
  sigmaToTimestep,
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
  const grid = float32Timesteps(spacing, numInferenceSteps, config.num_train_timesteps, config.steps_offset);
  const converted = convertSigmas(
    config,
    { sigmas: sigmasAtTimesteps(grid, table.sigmas), timesteps: grid },
    numInferenceSteps,
    table.logSigmas,
  );
  // Karras timesteps are rounded (and stay float64 tensors: whole numbers, so float32 holds them exactly).
  const timesteps = config.use_karras_sigmas ? converted.timesteps.map(numpyRound) : converted.timesteps;
  return { timesteps: timesteps.map(f32), sigmas: [...converted.sigmas, 0].map(f32) };
}

/** Checks shared by both KDPM2 variants' constructors. */
export function checkKdpm2Config(
  className: string,
  config: Kdpm2Config,
): { predictionType: PredictionType; spacing: TimestepSpacing } {
  rejectEnabledOptions(className, config, { use_beta_sigmas: false });
  checkSigmaConversion(className, config);
  return {
    predictionType: checkPredictionType(className, config.prediction_type, ['epsilon', 'v_prediction']),
    spacing: checkTimestepSpacing(className, config.timestep_spacing),
  };
}

/** DPM-Solver-2; `sigmas` holds 2N + 2 values: σ_0, σ_1 … σ_N (= 0) twice each, then 0 again. */
export class KDPM2DiscreteScheduler extends SigmaSpaceScheduler {
  readonly name = 'KDPM2DiscreteScheduler';
  readonly order = 2;
  readonly config: Readonly<Kdpm2Config>;
  protected readonly table: DiscreteSigmaTable;
  protected readonly spacing: TimestepSpacing;
  private readonly predictionType: PredictionType;
  /** Midpoint sigmas sqrt(σ_{i-1} σ_i), interleaved like `sigmaSchedule` (the first is NaN). */
  private midpointSigmas: number[] = [];
  /** The sample at the start of a step, held between its two calls. */
  private pendingSample: Float32Array | null = null;

  /** `KDPM2DiscreteScheduler.from_config(config, **extra)`; `{ use_karras_sigmas: true }` gives DPM_2_KARRAS. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(KDPM2_DEFAULTS, config, extra);
    ({ predictionType: this.predictionType, spacing: this.spacing } = checkKdpm2Config(this.name, this.config));
    this.table = discreteSigmaTable(this.config);
  }

  get stateInFirstOrder(): boolean {
    return this.pendingSample === null;
  }

  setTimesteps(numInferenceSteps: number): void {
    checkInferenceSteps(this.name, numInferenceSteps, this.config.num_train_timesteps);
    const { timesteps, sigmas } = kdpm2BaseSchedule(this.config, this.spacing, this.table, numInferenceSteps);
    // sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp(): NaN first (lerp of +/-inf), 0 last.
    const midpoints = sigmas.map((sigma, i) => logMidpointF32(sigma, sigmas[(i + sigmas.length - 1) % sigmas.length]));
    this.sigmaSchedule = interleaveSecondOrder(sigmas);
    this.midpointSigmas = interleaveSecondOrder(midpoints);
    const midpointTimesteps = midpoints.map((s) => sigmaToTimestep(s, this.table.logSigmas, 'torch-float32'));
    this.schedule = interleaveMidpoints(timesteps, midpointTimesteps.slice(1, -1));
    this.pendingSample = null;
    this.stepIndex.reset();
  }

  /** Divides by the midpoint's sigma during a step's second call. */
  override scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const index = this.indexFor(timestep, 'scaleModelInput');
    const sigma = this.stateInFirstOrder ? this.sigmaSchedule[index] : this.midpointSigmas[index];
    return scaleBySigma(sample, sigma);
  }

  /**
   * First call: Euler from σ to the midpoint σ_mid. Second call (model run at σ_mid): the derivative
   * there carries the step's own start sample all the way to σ_next.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(modelOutput, timestep, sample, options);
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
}
