/**
 * DDPM ancestral sampling (Ho et al., arXiv:2006.11239) as diffusers 0.38's `DDPMScheduler`
 * (src/diffusers/schedulers/scheduling_ddpm.py), float32 like its torch tensors.
 */
import { AlphaSpaceScheduler, checkTrainingTimestep, trainingAlphasCumprod } from './alpha-space-scheduler.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkStepTensors,
  checkInferenceSteps,
  checkPredictionType,
  drawStepNoise,
  notReadyError,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
import { clampSymmetric } from './sigma-step-math.js';
import { checkTimestepSpacing, integerTimesteps, type TimestepSpacing } from './timestep-spacing.js';
import { dataPrediction } from './vp-predictions.js';

const f32 = Math.fround;

/** `DDPMScheduler.__init__`'s defaults (diffusers 0.38). */
export const DDPM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  variance_type: 'fixed_small',
  clip_sample: true,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
};

export type DdpmConfig = typeof DDPM_DEFAULTS;

/** The fixed posterior variances Kiln supports (the learned ones need a 2×-channel model output). */
type FixedVarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large';

export class DDPMScheduler extends AlphaSpaceScheduler {
  readonly name = 'DDPMScheduler';
  readonly config: Readonly<DdpmConfig>;
  protected readonly alphasCumprod: Float32Array;
  private readonly predictionType: PredictionType;
  private readonly varianceType: FixedVarianceType;
  private readonly spacing: TimestepSpacing;

  /** `DDPMScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(DDPM_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { thresholding: false, rescale_betas_zero_snr: false });
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, [
      'epsilon',
      'sample',
      'v_prediction',
    ]);
    const varianceType = this.config.variance_type;
    if (varianceType !== 'fixed_small' && varianceType !== 'fixed_small_log' && varianceType !== 'fixed_large') {
      throw new Error(`${this.name}: variance_type ${JSON.stringify(varianceType)} is not supported by Kiln`);
    }
    this.varianceType = varianceType;
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.alphasCumprod = trainingAlphasCumprod(this.config);
  }

  setTimesteps(numInferenceSteps: number): void {
    const { num_train_timesteps: trainSteps, steps_offset: offset } = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, trainSteps);
    this.schedule = integerTimesteps(this.spacing, numInferenceSteps, trainSteps, offset);
  }

  /** `previous_timestep`: the next entry of the schedule, -1 after the last. */
  private previousTimestep(timestep: number): number {
    const index = this.schedule.indexOf(timestep);
    if (index < 0) throw new Error(`${this.name}: timestep ${timestep} is not one of the scheduler's timesteps`);
    return index === this.schedule.length - 1 ? -1 : this.schedule[index + 1];
  }

  /**
   * The posterior mean μ̃(x_t, x̂0) of DDPM eq. 7, plus (for t > 0) noise with the chosen fixed
   * variance: β̃_t = (1 - ᾱ_prev)/(1 - ᾱ_t) · β_t ("fixed_small") or β_t ("fixed_large").
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'step');
    checkTrainingTimestep(this.name, timestep, this.config.num_train_timesteps);
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    const prevTimestep = this.previousTimestep(timestep);
    const alphaProd = this.alphasCumprod[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep] : 1;
    const betaProd = f32(1 - alphaProd);
    const betaProdPrev = f32(1 - alphaProdPrev);
    const currentAlpha = f32(alphaProd / alphaProdPrev);
    const currentBeta = f32(1 - currentAlpha);
    const at = { alpha: f32(Math.sqrt(alphaProd)), sigma: f32(Math.sqrt(betaProd)) };
    let predOriginal = dataPrediction(this.predictionType, modelOutput, sample, at);
    if (this.config.clip_sample) predOriginal = clampSymmetric(predOriginal, this.config.clip_sample_range);

    const originalCoeff = f32(f32(f32(Math.sqrt(alphaProdPrev)) * currentBeta) / betaProd);
    const sampleCoeff = f32(f32(f32(Math.sqrt(currentAlpha)) * betaProdPrev) / betaProd);
    const n = sample.length;
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) prev[i] = f32(f32(originalCoeff * predOriginal[i]) + f32(sampleCoeff * sample[i]));

    if (timestep > 0) {
      const noise = drawStepNoise(this.name, options);
      const noiseScale = this.noiseScale(alphaProd, alphaProdPrev, currentBeta);
      for (let i = 0; i < n; i++) prev[i] = f32(prev[i] + f32(noiseScale * noise[i]));
    }
    return prev;
  }

  /** The standard deviation multiplying the step's noise (`_get_variance`, then `** 0.5` where diffusers takes it). */
  private noiseScale(alphaProd: number, alphaProdPrev: number, currentBeta: number): number {
    // β̃_t, clamped away from 0 because the log variants take its log.
    const posterior = Math.max(f32(f32(f32(1 - alphaProdPrev) / f32(1 - alphaProd)) * currentBeta), f32(1e-20));
    switch (this.varianceType) {
      case 'fixed_small':
        return f32(Math.sqrt(posterior));
      case 'fixed_small_log':
        // exp(0.5 * log(variance)) is used as is, without the square root.
        return f32(Math.exp(f32(0.5 * f32(Math.log(posterior)))));
      case 'fixed_large':
        return f32(Math.sqrt(currentBeta));
    }
  }
}
