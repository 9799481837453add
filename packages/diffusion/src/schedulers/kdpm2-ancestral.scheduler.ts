/**
 * Ancestral DPM-Solver-2 (k-diffusion's `sample_dpm_2_ancestral`, eta = 1) as diffusers 0.38's
 * `KDPM2AncestralDiscreteScheduler` (src/diffusers/schedulers/scheduling_k_dpm_2_ancestral_discrete.py),
 * float32 like its torch tensors. Each step: Euler to the midpoint between σ and σ_down, then the
 * midpoint derivative carries the step's start down to σ_down, and σ_up of fresh noise is added.
 */
import {
  discreteSigmaTable,
  interleaveMidpoints,
  interleaveSecondOrder,
  logMidpointF32,
  scaleBySigma,
  sigmaToTimestep,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import { checkKdpm2Config, kdpm2BaseSchedule, KDPM2_DEFAULTS, type Kdpm2Config } from './kdpm2.scheduler.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import { checkInferenceSteps, drawStepNoise, type PredictionType } from './scheduler-guards.js';
import { SigmaSpaceScheduler } from './sigma-space-scheduler.js';
import { addScaledNoise, ancestralStep, eulerMove, odeDerivative, predictOriginalSample } from './sigma-step-math.js';
import type { TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** `KDPM2AncestralDiscreteScheduler.__init__`'s defaults (diffusers 0.38): the same as KDPM2's. */
export const KDPM2_ANCESTRAL_DEFAULTS = KDPM2_DEFAULTS;

/** Ancestral DPM-Solver-2; `sigmas` holds 2N + 2 values: σ_0, σ_1 … σ_N (= 0) twice each, then 0 again. */
export class KDPM2AncestralDiscreteScheduler extends SigmaSpaceScheduler {
  readonly name = 'KDPM2AncestralDiscreteScheduler';
  readonly order = 2;
  readonly config: Readonly<Kdpm2Config>;
  protected readonly table: DiscreteSigmaTable;
  protected readonly spacing: TimestepSpacing;
  private readonly predictionType: PredictionType;
  /** Per-step σ_up / σ_down / midpoint sigmas, interleaved like `sigmaSchedule`. */
  private sigmasUp: number[] = [];
  private sigmasDown: number[] = [];
  private midpointSigmas: number[] = [];
  /** The sample at the start of a step, held between its two calls. */
  private pendingSample: Float32Array | null = null;

  /**
   * `KDPM2AncestralDiscreteScheduler.from_config(config, **extra)`;
   * `{ use_karras_sigmas: true }` gives DPM_2_ANCESTRAL_KARRAS.
   */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(KDPM2_ANCESTRAL_DEFAULTS, config, extra);
    ({ predictionType: this.predictionType, spacing: this.spacing } = checkKdpm2Config(this.name, this.config));
    this.table = discreteSigmaTable(this.config);
  }

  get stateInFirstOrder(): boolean {
    return this.pendingSample === null;
  }

  setTimesteps(numInferenceSteps: number): void {
    checkInferenceSteps(this.name, numInferenceSteps, this.config.num_train_timesteps);
    const { timesteps, sigmas } = kdpm2BaseSchedule(this.config, this.spacing, this.table, numInferenceSteps);
    const last = sigmas.length - 1;
    // sigmas_next = roll(-1) with a 0 at the end; the last step's σ_up is 0/0 = NaN, its σ_down 0.
    const steps = sigmas.map((sigma, i) => ancestralStep(sigma, i < last ? sigmas[i + 1] : 0));
    const up = steps.map((s) => s.up);
    const down = steps.map((s, i) => (i < last ? s.down : 0));
    // Midpoints exp(lerp(log σ, log σ_down, 0.5)); the last two are set to 0.
    const midpoints = sigmas.map((sigma, i) => (i >= last - 1 ? 0 : logMidpointF32(sigma, down[i])));
    this.sigmaSchedule = interleaveSecondOrder(sigmas);
    this.sigmasUp = interleaveSecondOrder(up);
    this.sigmasDown = interleaveSecondOrder(down);
    this.midpointSigmas = interleaveSecondOrder(midpoints);
    const midpointTimesteps = midpoints.map((s) => sigmaToTimestep(s, this.table.logSigmas, 'torch-float32'));
    this.schedule = interleaveMidpoints(timesteps, midpointTimesteps.slice(0, -2));
    this.pendingSample = null;
    this.stepIndex.reset();
  }

  /** Divides by the midpoint's sigma during a step's second call. */
  override scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const index = this.indexFor(timestep, 'scaleModelInput');
    const sigma = this.stateInFirstOrder ? this.sigmaSchedule[index] : this.midpointSigmas[index - 1];
    return scaleBySigma(sample, sigma);
  }

  /**
   * First call: Euler from σ to σ_mid, no noise. Second call (model run at σ_mid): from the step's
   * start sample down to σ_down along the midpoint derivative, plus σ_up · z. Since diffusers
   * PR #9616 the noise is drawn only on second calls: N - 1 draws for N steps.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(modelOutput, timestep, sample, options);
    const pending = this.pendingSample;
    let prev: Float32Array;
    if (!pending) {
      const sigma = this.sigmaSchedule[index];
      const sigmaMid = this.midpointSigmas[index];
      const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigma);
      const derivative = odeDerivative(sample, predOriginal, sigma);
      this.pendingSample = sample;
      prev = eulerMove(sample, derivative, f32(sigmaMid - sigma));
    } else {
      const sigma = this.sigmaSchedule[index - 1];
      const sigmaMid = this.midpointSigmas[index - 1];
      const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigmaMid);
      const derivative = odeDerivative(sample, predOriginal, sigmaMid);
      this.pendingSample = null;
      const moved = eulerMove(pending, derivative, f32(this.sigmasDown[index - 1] - sigma));
      prev = addScaledNoise(moved, drawStepNoise(this.name, options), this.sigmasUp[index - 1]);
    }
    this.stepIndex.advance();
    return prev;
  }
}
