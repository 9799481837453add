/**
 * Euler sampling of the probability-flow ODE (Karras et al., arXiv:2206.00364, algorithm 2 with
 * no churn) as diffusers 0.38's `EulerDiscreteScheduler`
 * (src/diffusers/schedulers/scheduling_euler_discrete.py), float32 like its torch tensors.
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
import { linspaceF32, resolveConfig } from './noise-schedule.js';
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
import { checkTimestepSpacing, float32Timesteps, type TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** `EulerDiscreteScheduler.__init__`'s defaults (diffusers 0.38). */
export const EULER_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  prediction_type: 'epsilon',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  sigma_min: null as number | null,
  sigma_max: null as number | null,
  timestep_spacing: 'linspace',
  timestep_type: 'discrete',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
};

export type EulerConfig = typeof EULER_DEFAULTS;

export class EulerDiscreteScheduler implements Scheduler {
  readonly name = 'EulerDiscreteScheduler';
  readonly order = 1;
  readonly config: Readonly<EulerConfig>;
  private readonly table: DiscreteSigmaTable;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private schedule: number[] = [];
  private sigmaSchedule: number[] = [];
  private readonly stepIndex = new StepIndex();

  /** `EulerDiscreteScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    this.config = resolveConfig(EULER_DEFAULTS, config, extra);
    const c = this.config;
    rejectEnabledOptions(this.name, c, { use_beta_sigmas: false, rescale_betas_zero_snr: false });
    if (c.use_karras_sigmas && c.use_exponential_sigmas) {
      throw new Error(`${this.name}: only one of use_karras_sigmas and use_exponential_sigmas can be set`);
    }
    if (c.interpolation_type !== 'linear' && c.interpolation_type !== 'log_linear') {
      throw new Error(`${this.name}: interpolation_type ${JSON.stringify(c.interpolation_type)} is not supported`);
    }
    if (c.final_sigmas_type !== 'zero' && c.final_sigmas_type !== 'sigma_min') {
      throw new Error(`${this.name}: final_sigmas_type ${JSON.stringify(c.final_sigmas_type)} is not supported`);
    }
    if (c.timestep_type !== 'discrete' && c.timestep_type !== 'continuous') {
      throw new Error(`${this.name}: timestep_type ${JSON.stringify(c.timestep_type)} is not supported`);
    }
    this.predictionType = checkPredictionType(this.name, c.prediction_type, ['epsilon', 'sample', 'v_prediction']);
    this.spacing = checkTimestepSpacing(this.name, c.timestep_spacing);
    this.table = discreteSigmaTable(c);
  }

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** N + 1 sigmas: one per timestep, then the final one (0 by default). */
  get sigmas(): readonly number[] {
    return this.sigmaSchedule;
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.sigmaSchedule.length > 0 ? this.sigmaSchedule : this.table.sigmas, this.spacing);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, c.num_train_timesteps);
    const { sigmas: trainSigmas, logSigmas } = this.table;
    let timesteps = float32Timesteps(this.spacing, numInferenceSteps, c.num_train_timesteps, c.steps_offset);
    let sigmas: number[];
    if (c.interpolation_type === 'linear') {
      sigmas = sigmasAtTimesteps(timesteps, trainSigmas);
    } else {
      // torch.linspace(log(sigmas[-1]), log(sigmas[0]), N + 1).exp(): N + 1 sigmas, as diffusers has it.
      const logMax = f32(Math.log(trainSigmas[trainSigmas.length - 1]));
      const logMin = f32(Math.log(trainSigmas[0]));
      sigmas = Array.from(linspaceF32(logMax, logMin, numInferenceSteps + 1), (v) => f32(Math.exp(v)));
    }
    if (c.use_karras_sigmas) {
      sigmas = karrasSigmasFrom(sigmas, numInferenceSteps, c.sigma_min, c.sigma_max);
      timesteps = sigmas.map((s) => sigmaToTimestep(s, logSigmas, 'numpy-float64'));
    } else if (c.use_exponential_sigmas) {
      sigmas = exponentialSigmasFrom(sigmas, numInferenceSteps, c.sigma_min, c.sigma_max);
      timesteps = sigmas.map((s) => sigmaToTimestep(s, logSigmas, 'numpy-float64'));
    }
    const finalSigma = c.final_sigmas_type === 'sigma_min' ? trainSigmas[0] : 0;
    this.sigmaSchedule = [...sigmas, finalSigma].map(f32);
    this.schedule =
      c.timestep_type === 'continuous' && this.predictionType === 'v_prediction'
        ? this.sigmaSchedule.slice(0, -1).map((s) => f32(0.25 * f32(Math.log(s))))
        : timesteps.map(f32);
    this.stepIndex.reset();
  }

  private currentIndex(timestep: number, method: string): number {
    if (this.schedule.length === 0) throw notReadyError(this.name, method);
    return this.stepIndex.at(this.schedule, timestep);
  }

  /** `sample / sqrt(sigma² + 1)`: the UNet expects unit-variance input. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return scaleBySigma(sample, this.sigmaSchedule[this.currentIndex(timestep, 'scaleModelInput')]);
  }

  /**
   * x_{i+1} = x_i + (x_i - x̂0) / σ_i · (σ_{i+1} - σ_i). diffusers 0.38 draws churn noise only when
   * `s_churn > 0` (since PR #9616); Kiln never churns, so no normal is drawn.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.currentIndex(timestep, 'step');
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    const sigma = this.sigmaSchedule[index];
    const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigma);
    const derivative = odeDerivative(sample, predOriginal, sigma);
    const dt = f32(this.sigmaSchedule[index + 1] - sigma);
    this.stepIndex.advance();
    return eulerMove(sample, derivative, dt);
  }

  /** diffusers' `set_begin_index`: the loop starts at `timesteps[beginIndex]` (img2img, inpainting). */
  setBeginIndex(beginIndex: number): void {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'setBeginIndex');
    this.stepIndex.setBegin(beginIndex, this.schedule.length, this.name);
  }

  /** `original + noise * sigma(timestep)` (img2img's initial latents). */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'addNoise');
    return addNoiseAtSigma(original, noise, this.sigmaSchedule[this.stepIndex.forNoise(this.schedule, timestep)]);
  }
}
