/**
 * Euler sampling of the probability-flow ODE (Karras et al., arXiv:2206.00364, algorithm 2 with
 * no churn) as diffusers 0.38's `EulerDiscreteScheduler`
 * (src/diffusers/schedulers/scheduling_euler_discrete.py), float32 like its torch tensors.
 */
import {
  checkSigmaConversion,
  convertSigmas,
  discreteSigmaTable,
  sigmasAtTimesteps,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import { linspaceF32, resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkInferenceSteps,
  checkPredictionType,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
import { SigmaSpaceScheduler } from './sigma-space-scheduler.js';
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

/** Euler's method; `sigmas` holds N + 1 values: one per timestep, then the final one (0 by default). */
export class EulerDiscreteScheduler extends SigmaSpaceScheduler {
  readonly name = 'EulerDiscreteScheduler';
  readonly order = 1;
  readonly config: Readonly<EulerConfig>;
  protected readonly table: DiscreteSigmaTable;
  protected readonly spacing: TimestepSpacing;
  private readonly predictionType: PredictionType;

  /** `EulerDiscreteScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(EULER_DEFAULTS, config, extra);
    const c = this.config;
    rejectEnabledOptions(this.name, c, { use_beta_sigmas: false, rescale_betas_zero_snr: false });
    checkSigmaConversion(this.name, c);
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

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, c.num_train_timesteps);
    const { sigmas: trainSigmas, logSigmas } = this.table;
    const grid = float32Timesteps(this.spacing, numInferenceSteps, c.num_train_timesteps, c.steps_offset);
    let gridSigmas: number[];
    if (c.interpolation_type === 'linear') {
      gridSigmas = sigmasAtTimesteps(grid, trainSigmas);
    } else {
      // torch.linspace(log(sigmas[-1]), log(sigmas[0]), N + 1).exp(): N + 1 sigmas, as diffusers has it.
      const logMax = f32(Math.log(trainSigmas[trainSigmas.length - 1]));
      const logMin = f32(Math.log(trainSigmas[0]));
      gridSigmas = Array.from(linspaceF32(logMax, logMin, numInferenceSteps + 1), (v) => f32(Math.exp(v)));
    }
    const { sigmas, timesteps } = convertSigmas(
      c,
      { sigmas: gridSigmas, timesteps: grid },
      numInferenceSteps,
      logSigmas,
    );
    const finalSigma = c.final_sigmas_type === 'sigma_min' ? trainSigmas[0] : 0;
    this.sigmaSchedule = [...sigmas, finalSigma].map(f32);
    this.schedule =
      c.timestep_type === 'continuous' && this.predictionType === 'v_prediction'
        ? this.sigmaSchedule.slice(0, -1).map((s) => f32(0.25 * f32(Math.log(s))))
        : timesteps.map(f32);
    this.stepIndex.reset();
  }

  /**
   * x_{i+1} = x_i + (x_i - x̂0) / σ_i · (σ_{i+1} - σ_i). diffusers 0.38 draws churn noise only when
   * `s_churn > 0` (since PR #9616); Kiln never churns, so no normal is drawn.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(modelOutput, timestep, sample, options);
    const sigma = this.sigmaSchedule[index];
    const predOriginal = predictOriginalSample(this.predictionType, modelOutput, sample, sigma);
    const derivative = odeDerivative(sample, predOriginal, sigma);
    const dt = f32(this.sigmaSchedule[index + 1] - sigma);
    this.stepIndex.advance();
    return eulerMove(sample, derivative, dt);
  }
}
