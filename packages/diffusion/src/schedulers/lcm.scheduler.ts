/**
 * Latent Consistency Model sampling (Luo et al., arXiv:2310.04378) as diffusers 0.38's `LCMScheduler`
 * (src/diffusers/schedulers/scheduling_lcm.py), float32 like its torch tensors. Each step maps the
 * sample straight to a clean-sample estimate (the consistency function, with its boundary-condition
 * scalings), then re-noises it to the next timestep with fresh noise from the image's generator.
 */
import { AlphaSpaceScheduler, checkTrainingTimestep, trainingAlphasCumprod } from './alpha-space-scheduler.js';
import { StepIndex } from './discrete-sigmas.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkInferenceSteps,
  checkPredictionType,
  checkStepTensors,
  drawStepNoise,
  notReadyError,
  rejectEnabledOptions,
  type PredictionType,
} from './scheduler-guards.js';
import { clampSymmetric } from './sigma-step-math.js';
import { dataPrediction } from './vp-predictions.js';

const f32 = Math.fround;

/** `LCMScheduler.__init__`'s defaults (diffusers 0.38). */
export const LCM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null as number[] | null,
  original_inference_steps: 50,
  clip_sample: false,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  timestep_scaling: 10.0,
  rescale_betas_zero_snr: false,
};

export type LcmConfig = typeof LCM_DEFAULTS;

/** `sigma_data` of the consistency-model parameterisation (Song et al. 2023, appendix C); diffusers fixes it. */
const SIGMA_DATA = 0.5;

/**
 * The consistency model's boundary-condition scalings at a discrete timestep:
 * c_skip = σ_d² / ((t·s)² + σ_d²) and c_out = t·s / sqrt((t·s)² + σ_d²), s = `timestep_scaling`.
 * In the pipeline `t` is a 0-dim int64 tensor, so torch computes these in float32, as here.
 */
export function lcmBoundaryScalings(timestep: number, timestepScaling: number): { cSkip: number; cOut: number } {
  const scaled = f32(f32(timestep) * f32(timestepScaling));
  const denominator = f32(f32(scaled * scaled) + SIGMA_DATA * SIGMA_DATA);
  return {
    cSkip: f32(f32(1 / denominator) * (SIGMA_DATA * SIGMA_DATA)), // torch: 0.25 / t = t.reciprocal() * 0.25
    cOut: f32(scaled / f32(Math.sqrt(denominator))),
  };
}

/**
 * LCM's inference timesteps: the distillation schedule `[k-1, 2k-1, …, T-1]` with
 * k = T // original_inference_steps, reversed, then `n` entries at indices floor(i · len / n)
 * (`np.linspace(0, len, n, endpoint=False)` floored), so n = 4 of 50 gives 999, 759, 499, 259.
 */
export function lcmTimesteps(numInferenceSteps: number, originalSteps: number, numTrainTimesteps: number): number[] {
  const k = Math.floor(numTrainTimesteps / originalSteps);
  const origin = Array.from({ length: originalSteps }, (_, i) => (originalSteps - i) * k - 1);
  const spacing = origin.length / numInferenceSteps; // numpy's linspace step, then i * step as numpy does
  return Array.from({ length: numInferenceSteps }, (_, i) => origin[Math.floor(i * spacing)]);
}

export class LCMScheduler extends AlphaSpaceScheduler {
  readonly name = 'LCMScheduler';
  readonly config: Readonly<LcmConfig>;
  protected readonly alphasCumprod: Float32Array;
  /** ᾱ for a step whose next timestep is below 0 (never reached by LCM's own schedule; kept as diffusers has it). */
  private readonly finalAlphaCumprod: number;
  private readonly predictionType: PredictionType;
  private readonly stepIndex = new StepIndex();
  private numInferenceSteps: number | null = null;

  /** `LCMScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(LCM_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { thresholding: false, rescale_betas_zero_snr: false });
    const { prediction_type: predictionType, original_inference_steps: originalSteps } = this.config;
    this.predictionType = checkPredictionType(this.name, predictionType, ['epsilon', 'sample', 'v_prediction']);
    const trainSteps = this.config.num_train_timesteps;
    if (!Number.isInteger(originalSteps) || originalSteps < 1 || originalSteps > trainSteps) {
      throw new Error(
        `${this.name}: original_inference_steps must be an integer in [1, ${trainSteps}], got ${originalSteps}`,
      );
    }
    this.alphasCumprod = trainingAlphasCumprod(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  /** The boundary-condition scalings (`get_scalings_for_boundary_condition_discrete`) at `timestep`. */
  boundaryScalings(timestep: number): { cSkip: number; cOut: number } {
    return lcmBoundaryScalings(timestep, this.config.timestep_scaling);
  }

  setTimesteps(numInferenceSteps: number): void {
    const { num_train_timesteps: trainSteps, original_inference_steps: originalSteps } = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, trainSteps);
    if (numInferenceSteps > originalSteps) {
      throw new Error(
        `${this.name}.setTimesteps: ${numInferenceSteps} steps exceed original_inference_steps (${originalSteps}): ` +
          'LCM takes its timesteps from that distillation schedule; use at most that many steps',
      );
    }
    this.numInferenceSteps = numInferenceSteps;
    this.schedule = lcmTimesteps(numInferenceSteps, originalSteps, trainSteps);
    this.stepIndex.reset();
  }

  /** diffusers' `set_begin_index`: img2img and inpainting start at `timesteps[beginIndex]`. */
  setBeginIndex(beginIndex: number): void {
    if (this.numInferenceSteps === null) throw notReadyError(this.name, 'setBeginIndex');
    this.stepIndex.setBegin(beginIndex, this.schedule.length, this.name);
  }

  /**
   * x̂0 from the model output, denoised = c_out·x̂0 + c_skip·x_t, then (except on the last step of
   * the schedule) x_prev = sqrt(ᾱ_prev)·denoised + sqrt(1 − ᾱ_prev)·z with z from the item's generator.
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.numInferenceSteps === null) throw notReadyError(this.name, 'step');
    checkTrainingTimestep(this.name, timestep, this.config.num_train_timesteps);
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    const index = this.stepIndex.at(this.schedule, timestep);
    // The last step has no next timestep; diffusers then uses the current one (its ᾱ is unused: no noise).
    const prevTimestep = index + 1 < this.schedule.length ? this.schedule[index + 1] : timestep;
    const alphaProd = this.alphasCumprod[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep] : this.finalAlphaCumprod;
    const at = { alpha: f32(Math.sqrt(alphaProd)), sigma: f32(Math.sqrt(f32(1 - alphaProd))) };
    let predOriginal = dataPrediction(this.predictionType, modelOutput, sample, at);
    if (this.config.clip_sample) predOriginal = clampSymmetric(predOriginal, this.config.clip_sample_range);

    const { cSkip, cOut } = this.boundaryScalings(timestep);
    const n = sample.length;
    const denoised = new Float32Array(n);
    for (let i = 0; i < n; i++) denoised[i] = f32(f32(cOut * predOriginal[i]) + f32(cSkip * sample[i]));

    const isLast = index === this.numInferenceSteps - 1;
    this.stepIndex.advance();
    // No noise after the last step: that is also why one-step sampling draws none.
    if (isLast) return denoised;
    const noise = drawStepNoise(this.name, options);
    const signalScale = f32(Math.sqrt(alphaProdPrev));
    const noiseScale = f32(Math.sqrt(f32(1 - alphaProdPrev)));
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) prev[i] = f32(f32(signalScale * denoised[i]) + f32(noiseScale * noise[i]));
    return prev;
  }
}
