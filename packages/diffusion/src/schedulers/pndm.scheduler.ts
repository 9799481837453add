/**
 * Pseudo numerical methods for diffusion models (Liu et al., arXiv:2202.09778) as diffusers 0.38's
 * `PNDMScheduler` (src/diffusers/schedulers/scheduling_pndm.py): Runge–Kutta warm-up steps then
 * linear multistep (PLMS), or PLMS alone with `skip_prk_steps` (Stable Diffusion's setting, after
 * crowsonkb's PLMS sampler in CompVis/latent-diffusion#51). Float32 like its torch tensors.
 */
import { AlphaSpaceScheduler, checkTrainingTimestep, trainingAlphasCumprod } from './alpha-space-scheduler.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import {
  checkStepTensors,
  checkInferenceSteps,
  checkPredictionType,
  notReadyError,
  type PredictionType,
} from './scheduler-guards.js';
import { checkTimestepSpacing, integerTimesteps, type TimestepSpacing } from './timestep-spacing.js';
import { noisePrediction } from './vp-predictions.js';

const f32 = Math.fround;

/** `PNDMScheduler.__init__`'s defaults (diffusers 0.38). */
export const PNDM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  skip_prk_steps: false,
  set_alpha_to_one: false,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
  steps_offset: 0,
};

export type PndmConfig = typeof PNDM_DEFAULTS;

/** Order of the pseudo linear multistep method (PNDM paper, eq. 12). */
const PNDM_ORDER = 4;

/** `c * tensor` with a Python-float coefficient: torch casts `c` to float32 first. */
function scaled(x: Float32Array, c: number): Float32Array {
  const c32 = f32(c);
  return x.map((v) => f32(c32 * v));
}

export class PNDMScheduler extends AlphaSpaceScheduler {
  readonly name = 'PNDMScheduler';
  readonly config: Readonly<PndmConfig>;
  protected readonly alphasCumprod: Float32Array;
  private readonly finalAlphaCumprod: number;
  private readonly predictionType: PredictionType;
  private readonly spacing: TimestepSpacing;
  private numInferenceSteps: number | null = null;
  private prkTimesteps: number[] = [];
  // Running state of the multistep method, reset by setTimesteps.
  private counter = 0;
  /** Past model outputs ("e_t" of the paper), at most the last 4 kept. */
  private ets: Float32Array[] = [];
  private curSample: Float32Array | null = null;
  /** Runge–Kutta accumulator (`cur_model_output`), 0 when none. */
  private curModelOutput: Float32Array | null = null;

  /** `PNDMScheduler.from_config(config, **extra)`. */
  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(PNDM_DEFAULTS, config, extra);
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, ['epsilon', 'v_prediction']);
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.alphasCumprod = trainingAlphasCumprod(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  /** With `skip_prk_steps`, `timesteps` holds N + 1 entries, the second one repeated (PLMS's warm-up uses it twice). */
  setTimesteps(numInferenceSteps: number): void {
    const { num_train_timesteps: trainSteps, steps_offset: offset } = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, trainSteps);
    this.numInferenceSteps = numInferenceSteps;
    const n = numInferenceSteps;
    // Ascending `_timesteps`: DDIM's integer grid for the same spacing, in increasing order.
    const ascending = integerTimesteps(this.spacing, n, trainSteps, offset).reverse();
    if (this.config.skip_prk_steps) {
      // concat(_timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:])[::-1]
      this.prkTimesteps = [];
      const plms = [...ascending.slice(0, -1), ...ascending.slice(-2, -1), ...ascending.slice(-1)];
      this.schedule = plms.reverse();
    } else {
      // Runge–Kutta on the last PNDM_ORDER timesteps, each with a half step in between.
      const half = Math.floor(Math.floor(trainSteps / n) / 2);
      const prk: number[] = [];
      for (const t of ascending.slice(-PNDM_ORDER)) prk.push(t, t + half);
      const doubled = prk
        .slice(0, -1)
        .flatMap((t) => [t, t])
        .slice(1, -1);
      this.prkTimesteps = doubled.reverse();
      const plms = ascending.slice(0, -3).reverse();
      this.schedule = [...this.prkTimesteps, ...plms];
    }
    this.ets = [];
    this.counter = 0;
    this.curModelOutput = null;
    this.curSample = null;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.numInferenceSteps === null) throw notReadyError(this.name, 'step');
    checkTrainingTimestep(this.name, timestep, this.config.num_train_timesteps);
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    if (this.counter < this.prkTimesteps.length && !this.config.skip_prk_steps) {
      return this.stepRungeKutta(modelOutput, timestep, sample, this.numInferenceSteps);
    }
    return this.stepLinearMultistep(modelOutput, timestep, sample, this.numInferenceSteps);
  }

  /** `step_prk`: the 4 model calls of one Runge–Kutta step (PNDM paper, eq. 13). */
  private stepRungeKutta(modelOutput: Float32Array, timestep: number, sample: Float32Array, n: number): Float32Array {
    const trainSteps = this.config.num_train_timesteps;
    const diffToPrev = this.counter % 2 ? 0 : Math.floor(Math.floor(trainSteps / n) / 2);
    const prevTimestep = timestep - diffToPrev;
    const stepTimestep = this.prkTimesteps[Math.floor(this.counter / 4) * 4];
    const phase = this.counter % 4;
    let output = modelOutput;
    const accumulate = (weight: number): Float32Array => {
      const term = scaled(modelOutput, weight);
      const acc = this.curModelOutput;
      return acc ? acc.map((v, i) => f32(v + term[i])) : term;
    };
    if (phase === 0) {
      this.curModelOutput = accumulate(1 / 6);
      this.ets.push(modelOutput);
      this.curSample = sample;
    } else if (phase === 1 || phase === 2) {
      this.curModelOutput = accumulate(1 / 3);
    } else {
      output = accumulate(1 / 6);
      this.curModelOutput = null;
    }
    const current = this.curSample ?? sample;
    const prev = this.previousSample(current, stepTimestep, prevTimestep, output);
    this.counter++;
    return prev;
  }

  /** `step_plms`: Adams–Bashforth combinations of up to 4 past model outputs (PNDM paper, eq. 12). */
  private stepLinearMultistep(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    n: number,
  ): Float32Array {
    const stride = Math.floor(this.config.num_train_timesteps / n);
    let prevTimestep = timestep - stride;
    let fromTimestep = timestep;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput);
    } else {
      // The repeated timestep: the second model call of the warm-up re-evaluates the first step.
      prevTimestep = timestep;
      fromTimestep = timestep + stride;
    }

    let output: Float32Array;
    let current = sample;
    const e = this.ets;
    const k = e.length;
    if (k === 1 && this.counter === 0) {
      output = modelOutput;
      this.curSample = sample;
    } else if (k === 1 && this.counter === 1) {
      output = modelOutput.map((v, i) => f32(f32(v + e[0][i]) / 2));
      current = this.curSample ?? sample;
      this.curSample = null;
    } else if (k === 2) {
      output = e[1].map((v, i) => f32(f32(f32(3 * v) - e[0][i]) / 2));
    } else if (k === 3) {
      output = e[2].map((v, i) => f32(f32(f32(f32(23 * v) - f32(16 * e[1][i])) + f32(5 * e[0][i])) / 12));
    } else {
      const oneOver24 = f32(1 / 24);
      output = e[3].map((v, i) =>
        f32(oneOver24 * f32(f32(f32(f32(55 * v) - f32(59 * e[2][i])) + f32(37 * e[1][i])) - f32(9 * e[0][i]))),
      );
    }
    const prev = this.previousSample(current, fromTimestep, prevTimestep, output);
    this.counter++;
    return prev;
  }

  /** `_get_prev_sample`: x_{t-δ} from x_t and the (combined) noise prediction, PNDM paper eq. 9. */
  private previousSample(
    sample: Float32Array,
    timestep: number,
    prevTimestep: number,
    modelOutput: Float32Array,
  ): Float32Array {
    const alphaProd = this.alphasCumprod[timestep];
    const alphaProdPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep] : this.finalAlphaCumprod;
    const betaProd = f32(1 - alphaProd);
    const betaProdPrev = f32(1 - alphaProdPrev);
    const at = { alpha: f32(Math.sqrt(alphaProd)), sigma: f32(Math.sqrt(betaProd)) };
    const eps = noisePrediction(this.predictionType, modelOutput, sample, at);
    // (ᾱ_prev / ᾱ_t)^½ multiplies x_t; the noise term's denominator is ᾱ_t √(1-ᾱ_prev) + √(ᾱ_t (1-ᾱ_t) ᾱ_prev).
    const sampleCoeff = f32(Math.sqrt(f32(alphaProdPrev / alphaProd)));
    const denominator = f32(
      f32(alphaProd * f32(Math.sqrt(betaProdPrev))) + f32(Math.sqrt(f32(f32(alphaProd * betaProd) * alphaProdPrev))),
    );
    const alphaGap = f32(alphaProdPrev - alphaProd);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      out[i] = f32(f32(sampleCoeff * sample[i]) - f32(f32(alphaGap * eps[i]) / denominator));
    }
    return out;
  }
}
