/**
 * DDIM (Song et al., arXiv:2010.02502) as diffusers 0.38's `DDIMScheduler`
 * (src/diffusers/schedulers/scheduling_ddim.py), float32 like its torch tensors.
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
import { dataPrediction, noisePrediction } from './vp-predictions.js';

const f32 = Math.fround;

/** `DDIMScheduler.__init__`'s defaults (diffusers 0.38). */
export const DDIM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
};

export type DdimConfig = typeof DDIM_DEFAULTS;

export class DDIMScheduler extends AlphaSpaceScheduler {
  readonly name = 'DDIMScheduler';
  readonly config: Readonly<DdimConfig>;
  protected readonly alphasCumprod: Float32Array;
  /** ᾱ used for the step that lands past timestep 0: 1, or ᾱ_0 when `set_alpha_to_one` is off. */
  private readonly finalAlphaCumprod: number;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private numInferenceSteps: number | null = null;

  /** `DDIMScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(DDIM_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { thresholding: false, rescale_betas_zero_snr: false });
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, [
      'epsilon',
      'sample',
      'v_prediction',
    ]);
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.alphasCumprod = trainingAlphasCumprod(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  setTimesteps(numInferenceSteps: number): void {
    const { num_train_timesteps: trainSteps, steps_offset: offset } = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, trainSteps);
    this.numInferenceSteps = numInferenceSteps;
    this.schedule = integerTimesteps(this.spacing, numInferenceSteps, trainSteps, offset);
  }

  /**
   * DDIM eq. 12: x_{t-1} = sqrt(ᾱ_prev) x̂0 + sqrt(1 - ᾱ_prev - σ_t²) ε̂ + σ_t z, with
   * σ_t = eta · sqrt((1 - ᾱ_prev)/(1 - ᾱ_t) · (1 - ᾱ_t/ᾱ_prev)) (eq. 16); z is drawn only when eta > 0.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.numInferenceSteps === null) throw notReadyError(this.name, 'step');
    const trainSteps = this.config.num_train_timesteps;
    checkTrainingTimestep(this.name, timestep, trainSteps);
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    const eta = options.eta ?? 0;
    const prevTimestep = timestep - Math.floor(trainSteps / this.numInferenceSteps);
    const alphaProd = this.alphasCumprod[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep] : this.finalAlphaCumprod;
    const betaProd = f32(1 - alphaProd);
    // x_t = sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε: the model output as x̂0 and ε̂ (ε̂ from the unclipped x̂0).
    const at = { alpha: f32(Math.sqrt(alphaProd)), sigma: f32(Math.sqrt(betaProd)) };
    let predOriginal = dataPrediction(this.predictionType, modelOutput, sample, at);
    const predEpsilon = noisePrediction(this.predictionType, modelOutput, sample, at);
    if (this.config.clip_sample) predOriginal = clampSymmetric(predOriginal, this.config.clip_sample_range);

    const betaProdPrev = f32(1 - alphaProdPrev);
    const variance = f32(f32(betaProdPrev / betaProd) * f32(1 - f32(alphaProd / alphaProdPrev)));
    const stdDev = f32(f32(eta) * f32(Math.sqrt(variance)));
    const directionScale = f32(Math.sqrt(f32(betaProdPrev - f32(stdDev * stdDev))));
    const sqrtAlphaProdPrev = f32(Math.sqrt(alphaProdPrev));
    const n = sample.length;
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = f32(f32(sqrtAlphaProdPrev * predOriginal[i]) + f32(directionScale * predEpsilon[i]));
    }
    if (eta > 0) {
      const noise = drawStepNoise(this.name, options);
      for (let i = 0; i < n; i++) prev[i] = f32(prev[i] + f32(stdDev * noise[i]));
    }
    return prev;
  }
}
