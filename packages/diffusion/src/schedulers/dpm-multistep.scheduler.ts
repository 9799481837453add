/**
 * diffusers' `DPMSolverMultistepScheduler` (DPM-Solver, arXiv:2206.00927, and DPM-Solver++,
 * arXiv:2211.01095): the multistep exponential integrator with data (`dpmsolver++`) or noise
 * (`dpmsolver`) prediction, and the SDE variants that add fresh noise every step.
 *
 * Symbols as in the papers: a k-diffusion sigma σ gives α_t = 1/sqrt(1 + σ²) and σ_t = σ·α_t;
 * λ = log α_t − log σ_t is the half log-SNR, h = λ_t − λ_s the step from s to t; m0, m1, m2 are
 * the converted model outputs of the current and earlier steps, r0 = h0/h their step ratio and
 * D0, D1, D2 the divided differences the 2nd/3rd-order updates use.
 */
import { randnPerItem } from '../rng/random-source.js';
import {
  alphaSigmaAt,
  configNumber,
  dataPrediction,
  dpmIndexForTimestep,
  karrasScheduleOver,
  lastTimestepAfterClipping,
  logSnrAt,
  noisePrediction,
  rejectUnsupportedOptions,
  roundHalfEven,
  sigmasAtTimesteps,
  spacedIntegerTimesteps,
  vpAddNoise,
  vpTrainingSchedule,
  type PredictionType,
  type TimestepSpacing,
  type VpTrainingSchedule,
  checkBeginIndex,
  noiseIndex,
} from './dpm-solver-common.js';
import { linearCombinationF32, scaledDifferenceF32, type ScaledTensor } from './float32-linear-combination.js';
import { resolveConfig } from './noise-schedule.js';
import type { Scheduler, SchedulerConfig, StepOptions } from './scheduler.js';

const f32 = Math.fround;
const expF32 = (x: number) => f32(Math.exp(x));

/** `DPMSolverMultistepScheduler.__init__` defaults of diffusers 0.38. */
export const DPM_MULTISTEP_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity as number | string,
  variance_type: null as string | null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
};

export type DpmMultistepConfig = typeof DPM_MULTISTEP_DEFAULTS;

type AlgorithmType = 'dpmsolver' | 'dpmsolver++' | 'sde-dpmsolver' | 'sde-dpmsolver++';

/** DPM-Solver(++) multistep sampler, bit-faithful to diffusers' float32 arithmetic. */
export class DPMSolverMultistepScheduler implements Scheduler {
  readonly name = 'DPMSolverMultistepScheduler';
  /** diffusers' class attribute: one model evaluation per step. */
  readonly order = 1;
  readonly initNoiseSigma = 1.0;
  readonly config: DpmMultistepConfig;
  timesteps: number[] = [];
  sigmas: number[] = [];

  private readonly training: VpTrainingSchedule;
  private readonly algorithm: AlgorithmType;
  private readonly solverType: 'midpoint' | 'heun';
  /** Converted model outputs of the last `solver_order` steps, oldest first. */
  private modelOutputs: (Float32Array | null)[] = [];
  private lowerOrderNums = 0;
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;

  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    this.config = resolveConfig(DPM_MULTISTEP_DEFAULTS, config, extra);
    const c = this.config;
    rejectUnsupportedOptions(this.name, c, {
      thresholding: false,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      use_lu_lambdas: false,
      use_flow_sigmas: false,
      rescale_betas_zero_snr: false,
      use_dynamic_shifting: false,
      variance_type: null,
    });
    // diffusers maps the solver names of sibling schedulers onto its own (`deis` → `dpmsolver++`, …).
    const algorithm = c.algorithm_type === 'deis' ? 'dpmsolver++' : c.algorithm_type;
    if (!['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++'].includes(algorithm)) {
      throw new Error(`${this.name}: algorithm_type ${algorithm} is not implemented`);
    }
    this.algorithm = algorithm as AlgorithmType;
    if (['logrho', 'bh1', 'bh2'].includes(c.solver_type)) this.solverType = 'midpoint';
    else if (c.solver_type === 'midpoint' || c.solver_type === 'heun') this.solverType = c.solver_type;
    else throw new Error(`${this.name}: solver_type ${c.solver_type} is not implemented`);
    if (!this.algorithm.endsWith('dpmsolver++') && c.final_sigmas_type === 'zero') {
      throw new Error(
        `${this.name}: final_sigmas_type zero is not supported for algorithm_type ${this.algorithm}; choose sigma_min`,
      );
    }
    if (![1, 2, 3].includes(c.solver_order)) throw new Error(`${this.name}: solver_order must be 1, 2 or 3`);
    this.training = vpTrainingSchedule(c);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const train = this.training;
    const lastTimestep = lastTimestepAfterClipping(train.lambdas, configNumber(c.lambda_min_clipped, 'lambda_min_clipped'));
    let timesteps = spacedIntegerTimesteps(
      c.timestep_spacing as TimestepSpacing,
      numInferenceSteps,
      lastTimestep,
      c.num_train_timesteps,
      c.steps_offset,
    );
    let sigmas: number[];
    if (c.use_karras_sigmas) {
      const karras = karrasScheduleOver(
        train.sigmas[0],
        train.sigmas[train.sigmas.length - 1],
        numInferenceSteps,
        train.logSigmas,
      );
      sigmas = karras.sigmas;
      // The cosine schedule keeps fractional timesteps; the int64 cast then truncates them.
      timesteps = karras.timesteps.map((t) => (c.beta_schedule === 'squaredcos_cap_v2' ? Math.trunc(t) : roundHalfEven(t)));
    } else {
      sigmas = sigmasAtTimesteps(timesteps, train.sigmas);
    }
    let sigmaLast: number;
    if (c.final_sigmas_type === 'sigma_min') sigmaLast = train.sigmas[0];
    else if (c.final_sigmas_type === 'zero') sigmaLast = 0;
    else throw new Error(`${this.name}: final_sigmas_type must be zero or sigma_min, got ${c.final_sigmas_type}`);
    this.sigmas = [...sigmas, sigmaLast].map(f32);
    this.timesteps = timesteps;
    this.modelOutputs = new Array(c.solver_order).fill(null);
    this.lowerOrderNums = 0;
    this.stepIndex = null;
    this.beginIndex = null;
  }

  /** DPM-Solver works on the unscaled sample. */
  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.timesteps.length === 0) throw new Error(`${this.name}: call setTimesteps before step`);
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? dpmIndexForTimestep(this.timesteps, timestep);
    const c = this.config;
    const index = this.stepIndex;
    const count = this.timesteps.length;
    // Lower orders at the very end stabilise few-step sampling (and a zero final sigma needs order 1).
    const lowerOrderFinal =
      index === count - 1 && (c.euler_at_final || (c.lower_order_final && count < 15) || c.final_sigmas_type === 'zero');
    const lowerOrderSecond = index === count - 2 && c.lower_order_final && count < 15;

    const converted = this.convertModelOutput(modelOutput, sample);
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);

    let noise: Float32Array | null = null;
    if (this.algorithm.startsWith('sde-')) {
      if (!options.generators) throw new Error(`${this.name}: ${this.algorithm} needs generators for its noise`);
      noise = randnPerItem(options.generators, options.shape);
    }

    let prevSample: Float32Array;
    if (c.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) {
      prevSample = this.firstOrderUpdate(converted, sample, noise);
    } else if (c.solver_order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) {
      prevSample = this.secondOrderUpdate(sample, noise);
    } else {
      prevSample = this.thirdOrderUpdate(sample, noise);
    }
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    this.stepIndex++;
    return prevSample;
  }

  /** diffusers' `set_begin_index`: the loop starts at `timesteps[beginIndex]` (img2img, inpainting). */
  setBeginIndex(beginIndex: number): void {
    this.beginIndex = checkBeginIndex(this.name, beginIndex, this.timesteps.length);
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    const index = noiseIndex(this.beginIndex, this.stepIndex, () => dpmIndexForTimestep(this.timesteps, timestep));
    return vpAddNoise(original, noise, this.sigmas[index]);
  }

  private convertModelOutput(modelOutput: Float32Array, sample: Float32Array): Float32Array {
    const at = alphaSigmaAt(this.sigmas[this.stepIndex as number]);
    const predictionType = this.config.prediction_type as PredictionType;
    return this.algorithm.endsWith('dpmsolver++')
      ? dataPrediction(predictionType, modelOutput, sample, at)
      : noisePrediction(predictionType, modelOutput, sample, at);
  }

  /** VP coefficients and log-SNR at `sigmas[stepIndex + offset]`. */
  private pointAt(offset: number) {
    const at = alphaSigmaAt(this.sigmas[(this.stepIndex as number) + offset]);
    return { ...at, lambda: logSnrAt(at) };
  }

  /** First-order DPM-Solver step (DDIM for the ODE variants). */
  private firstOrderUpdate(m0: Float32Array, sample: Float32Array, noise: Float32Array | null): Float32Array {
    const t = this.pointAt(1);
    const s = this.pointAt(0);
    const h = f32(t.lambda - s.lambda);
    switch (this.algorithm) {
      case 'dpmsolver++':
        return linearCombinationF32([
          [f32(t.sigma / s.sigma), sample],
          [-f32(t.alpha * f32(expF32(-h) - 1)), m0],
        ]);
      case 'dpmsolver':
        return linearCombinationF32([
          [f32(t.alpha / s.alpha), sample],
          [-f32(t.sigma * f32(expF32(h) - 1)), m0],
        ]);
      case 'sde-dpmsolver++':
        return linearCombinationF32([
          [f32(f32(t.sigma / s.sigma) * expF32(-h)), sample],
          [f32(t.alpha * f32(1 - expF32(f32(-2 * h)))), m0],
          [sdeNoiseScalePlusPlus(t.sigma, h), noise as Float32Array],
        ]);
      case 'sde-dpmsolver':
        return linearCombinationF32([
          [f32(t.alpha / s.alpha), sample],
          [-f32(2 * f32(t.sigma * f32(expF32(h) - 1))), m0],
          [sdeNoiseScale(t.sigma, h), noise as Float32Array],
        ]);
    }
  }

  /** Second-order multistep update from the last two converted outputs. */
  private secondOrderUpdate(sample: Float32Array, noise: Float32Array | null): Float32Array {
    const t = this.pointAt(1);
    const s0 = this.pointAt(0);
    const s1 = this.pointAt(-1);
    const [m1, m0] = this.modelOutputs.slice(-2) as Float32Array[];
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / h);
    const D0 = m0;
    const D1 = scaledDifferenceF32(m0, m1, f32(1 / r0));
    const terms: ScaledTensor[] = [];
    const midpoint = this.solverType === 'midpoint';
    switch (this.algorithm) {
      case 'dpmsolver++': {
        const phi = f32(t.alpha * f32(expF32(-h) - 1));
        terms.push([f32(t.sigma / s0.sigma), sample], [-phi, D0]);
        terms.push(midpoint ? [-f32(0.5 * phi), D1] : [f32(t.alpha * f32(f32(f32(expF32(-h) - 1) / h) + 1)), D1]);
        break;
      }
      case 'dpmsolver': {
        const phi = f32(t.sigma * f32(expF32(h) - 1));
        terms.push([f32(t.alpha / s0.alpha), sample], [-phi, D0]);
        terms.push(midpoint ? [-f32(0.5 * phi), D1] : [-f32(t.sigma * f32(f32(f32(expF32(h) - 1) / h) - 1)), D1]);
        break;
      }
      case 'sde-dpmsolver++': {
        const phi = f32(t.alpha * f32(1 - expF32(f32(-2 * h))));
        terms.push([f32(f32(t.sigma / s0.sigma) * expF32(-h)), sample], [phi, D0]);
        terms.push(
          midpoint
            ? [f32(0.5 * phi), D1]
            : [f32(t.alpha * f32(f32(f32(1 - expF32(f32(-2 * h))) / f32(-2 * h)) + 1)), D1],
        );
        terms.push([sdeNoiseScalePlusPlus(t.sigma, h), noise as Float32Array]);
        break;
      }
      case 'sde-dpmsolver': {
        const phi = f32(t.sigma * f32(expF32(h) - 1));
        terms.push([f32(t.alpha / s0.alpha), sample], [-f32(2 * phi), D0]);
        terms.push(midpoint ? [-phi, D1] : [-f32(2 * f32(t.sigma * f32(f32(f32(expF32(h) - 1) / h) - 1))), D1]);
        terms.push([sdeNoiseScale(t.sigma, h), noise as Float32Array]);
        break;
      }
    }
    return linearCombinationF32(terms);
  }

  /** Third-order multistep update from the last three converted outputs. */
  private thirdOrderUpdate(sample: Float32Array, noise: Float32Array | null): Float32Array {
    const t = this.pointAt(1);
    const s0 = this.pointAt(0);
    const s1 = this.pointAt(-1);
    const s2 = this.pointAt(-2);
    const [m2, m1, m0] = this.modelOutputs.slice(-3) as Float32Array[];
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const h1 = f32(s1.lambda - s2.lambda);
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const D0 = m0;
    const D1_0 = scaledDifferenceF32(m0, m1, f32(1 / r0));
    const D1_1 = scaledDifferenceF32(m1, m2, f32(1 / r1));
    // D1 = D1_0 + r0/(r0+r1) * (D1_0 - D1_1);  D2 = 1/(r0+r1) * (D1_0 - D1_1)
    const D1 = new Float32Array(D0.length);
    const D2 = new Float32Array(D0.length);
    const w1 = f32(r0 / f32(r0 + r1));
    const w2 = f32(1 / f32(r0 + r1));
    for (let i = 0; i < D0.length; i++) {
      const diff = f32(D1_0[i] - D1_1[i]);
      D1[i] = f32(D1_0[i] + f32(w1 * diff));
      D2[i] = f32(w2 * diff);
    }
    const hh = f32(h * h);
    switch (this.algorithm) {
      case 'dpmsolver++': {
        const e = f32(expF32(-h) - 1);
        return linearCombinationF32([
          [f32(t.sigma / s0.sigma), sample],
          [-f32(t.alpha * e), D0],
          [f32(t.alpha * f32(f32(e / h) + 1)), D1],
          [-f32(t.alpha * f32(f32(f32(e + h) / hh) - 0.5)), D2],
        ]);
      }
      case 'dpmsolver': {
        const e = f32(expF32(h) - 1);
        return linearCombinationF32([
          [f32(t.alpha / s0.alpha), sample],
          [-f32(t.sigma * e), D0],
          [-f32(t.sigma * f32(f32(e / h) - 1)), D1],
          [-f32(t.sigma * f32(f32(f32(e - h) / hh) - 0.5)), D2],
        ]);
      }
      case 'sde-dpmsolver++': {
        const e = f32(1 - expF32(f32(-2 * h)));
        const minus2h = f32(-2 * h);
        return linearCombinationF32([
          [f32(f32(t.sigma / s0.sigma) * expF32(-h)), sample],
          [f32(t.alpha * e), D0],
          [f32(t.alpha * f32(f32(e / minus2h) + 1)), D1],
          [f32(t.alpha * f32(f32(f32(e - f32(2 * h)) / f32(f32(2 * h) * f32(2 * h))) - 0.5)), D2],
          [sdeNoiseScalePlusPlus(t.sigma, h), noise as Float32Array],
        ]);
      }
      case 'sde-dpmsolver':
        throw new Error(`${this.name}: solver_order 3 is not implemented for sde-dpmsolver (as in diffusers)`);
    }
  }
}

/** `sigma_t * sqrt(1 - exp(-2h))`: the noise scale of SDE-DPM-Solver++. */
function sdeNoiseScalePlusPlus(sigmaT: number, h: number): number {
  return f32(sigmaT * f32(Math.sqrt(f32(1 - expF32(f32(-2 * h))))));
}

/** `sigma_t * sqrt(exp(2h) - 1)`: the noise scale of SDE-DPM-Solver. */
function sdeNoiseScale(sigmaT: number, h: number): number {
  return f32(sigmaT * f32(Math.sqrt(f32(expF32(f32(2 * h)) - 1))));
}
