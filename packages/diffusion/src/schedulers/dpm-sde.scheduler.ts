/**
 * diffusers' `DPMSolverSDEScheduler`: k-diffusion's DPM-Solver++ SDE (`sample_dpmpp_sde`, r = 1/2)
 * as a scheduler. Every step of the user's count is two model evaluations: a first-order move to the
 * log-sigma midpoint, then the full step using the midpoint's denoised prediction; both add Brownian
 * noise. The noise comes from Kiln's own Brownian tree (see brownian-tree.ts), so results are
 * deterministic per seed but not bit-equal to diffusers, which draws from torchsde.
 */
import type { RandomSource } from '../rng/random-source.js';
import { BrownianTreeNoiseSampler, deriveSeed, seedFromRandomSource } from './brownian-tree.js';
import { linearCombinationF32 } from './float32-linear-combination.js';
import { karrasSigmas, linspace, resolveConfig, sigmaToT } from './noise-schedule.js';
import {
  arange,
  rejectUnsupportedOptions,
  roundHalfEven,
  sigmasAtTimesteps,
  vpTrainingSchedule,
  type VpTrainingSchedule,
  checkBeginIndex,
  noiseIndex,
} from './dpm-solver-common.js';
import type { Scheduler, SchedulerConfig, StepOptions } from './scheduler.js';

const f32 = Math.fround;
/** k-diffusion's time variable t = -log(sigma), in float32. */
const tOfSigma = (sigma: number) => f32(-f32(Math.log(sigma)));
const sigmaOfT = (t: number) => f32(Math.exp(-t));

/** `DPMSolverSDEScheduler.__init__` defaults of diffusers 0.38. */
export const DPM_SDE_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'linear',
  trained_betas: null as number[] | null,
  prediction_type: 'epsilon',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  /**
   * diffusers: the torchsde entropy (a random one when null). Kiln: a number seeds item i's tree with
   * `deriveSeed(seed, i)`, an array gives one seed per item; when null, each item's tree is seeded
   * from the generator passed to `step` (the image's seed).
   */
  noise_sampler_seed: null as number | number[] | null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
};

export type DpmSdeConfig = typeof DPM_SDE_DEFAULTS;

/** DPM-Solver++ SDE (2 model calls per step) with Brownian-tree noise. */
export class DPMSolverSDEScheduler implements Scheduler {
  readonly name = 'DPMSolverSDEScheduler';
  /** diffusers' class attribute: two model evaluations per step. */
  readonly order = 2;
  readonly config: DpmSdeConfig;
  timesteps: number[] = [];
  sigmas: number[] = [];

  private readonly training: VpTrainingSchedule;
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;
  /** The sample at the start of the current step while its midpoint evaluation is pending. */
  private firstOrderSample: Float32Array | null = null;
  private midPointSigma: number | null = null;
  private noiseSampler: BrownianTreeNoiseSampler | null = null;

  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    this.config = resolveConfig(DPM_SDE_DEFAULTS, config, extra);
    rejectUnsupportedOptions(this.name, this.config, { use_exponential_sigmas: false, use_beta_sigmas: false });
    if (!['epsilon', 'v_prediction'].includes(this.config.prediction_type)) {
      throw new Error(`${this.name}: prediction_type ${this.config.prediction_type} is not implemented`);
    }
    this.training = vpTrainingSchedule(this.config);
    // As diffusers' __init__: a full-length schedule, so init_noise_sigma is defined from the start.
    this.setTimesteps(this.config.num_train_timesteps);
  }

  get initNoiseSigma(): number {
    const max = Math.max(...this.sigmas);
    if (this.config.timestep_spacing === 'linspace' || this.config.timestep_spacing === 'trailing') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const n = numInferenceSteps;
    const numTrain = c.num_train_timesteps;
    let timesteps: number[];
    switch (c.timestep_spacing) {
      case 'linspace':
        timesteps = linspace(0, numTrain - 1, n).reverse();
        break;
      case 'leading': {
        const ratio = Math.floor(numTrain / n);
        timesteps = [];
        for (let i = n - 1; i >= 0; i--) timesteps.push(roundHalfEven(i * ratio) + c.steps_offset);
        break;
      }
      case 'trailing':
        timesteps = arange(numTrain, 0, -numTrain / n).map((t) => roundHalfEven(t) - 1);
        break;
      default:
        throw new Error(`${this.name}: timestep_spacing ${c.timestep_spacing} is not supported`);
    }
    const logSigmas = this.training.logSigmas;
    let sigmas = sigmasAtTimesteps(timesteps, this.training.sigmas);
    if (c.use_karras_sigmas) {
      // LMS-style `_convert_to_karras`: the range of the interpolated sigmas, not of training.
      sigmas = karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], n);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    }
    // Midpoints in t = -log(sigma) (the geometric mean of neighbouring sigmas), as fractional timesteps.
    const midTimesteps: number[] = [];
    for (let i = 0; i + 1 < sigmas.length; i++) {
      const t = -Math.log(sigmas[i]);
      const tNext = -Math.log(sigmas[i + 1]);
      midTimesteps.push(sigmaToT(Math.exp(-(t + (tNext - t) * 0.5)), logSigmas));
    }
    const sigmas32 = sigmas.map(f32);
    this.sigmas = [sigmas32[0]];
    for (let i = 1; i < sigmas32.length; i++) this.sigmas.push(sigmas32[i], sigmas32[i]);
    this.sigmas.push(0);
    this.timesteps = [timesteps[0]];
    for (let i = 1; i < timesteps.length; i++) this.timesteps.push(midTimesteps[i - 1], timesteps[i]);
    this.stepIndex = null;
    this.beginIndex = null;
    this.firstOrderSample = null;
    this.midPointSigma = null;
    this.noiseSampler = null;
  }

  /** sample / sqrt(sigma² + 1), with the midpoint's sigma during the second evaluation. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? this.indexForTimestep(timestep);
    const sigma = this.firstOrderSample === null ? this.sigmas[this.stepIndex] : (this.midPointSigma as number);
    const divisor = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    return Float32Array.from(sample, (v) => f32(v / divisor));
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.timesteps.length === 0) throw new Error(`${this.name}: call setTimesteps before step`);
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? this.indexForTimestep(timestep);
    const index = this.stepIndex;
    if (this.noiseSampler === null) this.noiseSampler = this.createNoiseSampler(options);

    const firstOrder = this.firstOrderSample === null;
    const sigma = firstOrder ? this.sigmas[index] : this.sigmas[index - 1];
    const sigmaNext = firstOrder ? this.sigmas[index + 1] : this.sigmas[index];
    const t = tOfSigma(sigma);
    let tNext = tOfSigma(sigmaNext);
    const tProposed = f32(t + f32(f32(tNext - t) * 0.5));

    const sigmaInput = firstOrder ? sigma : sigmaOfT(tProposed);
    const denoised = this.predictOriginal(modelOutput, sample, sigmaInput);

    let prevSample: Float32Array;
    if (sigmaNext === 0) {
      // Final Euler step to sigma 0: x + (x - x0)/sigma * (0 - sigma).
      const dt = f32(sigmaNext - sigma);
      prevSample = new Float32Array(sample.length);
      for (let i = 0; i < sample.length; i++) {
        const derivative = f32(f32(sample[i] - denoised[i]) / sigma);
        prevSample[i] = f32(sample[i] + f32(derivative * dt));
      }
    } else {
      let start = sample;
      if (firstOrder) tNext = tProposed;
      else start = this.firstOrderSample as Float32Array;
      // Ancestral split of the move from sigma_from to sigma_to into a deterministic part to
      // sigma_down and fresh noise of size sigma_up (k-diffusion's get_ancestral_step, eta = 1).
      const sigmaFrom = sigmaOfT(t);
      const sigmaTo = sigmaOfT(tNext);
      const toSquared = f32(sigmaTo * sigmaTo);
      const fromSquared = f32(sigmaFrom * sigmaFrom);
      const sigmaUp = Math.min(
        sigmaTo,
        f32(Math.sqrt(f32(f32(toSquared * f32(fromSquared - toSquared)) / fromSquared))),
      );
      const sigmaDown = f32(Math.sqrt(f32(toSquared - f32(sigmaUp * sigmaUp))));
      const ancestralT = tOfSigma(sigmaDown);
      const deterministic = linearCombinationF32([
        [f32(sigmaOfT(ancestralT) / sigmaOfT(t)), start],
        [-f32(Math.expm1(f32(t - ancestralT))), denoised],
      ]);
      const noise = this.noiseSampler.noise(sigmaOfT(t), sigmaOfT(tNext));
      prevSample = linearCombinationF32([
        [1, deterministic],
        [sigmaUp, noise],
      ]);
      if (firstOrder) {
        this.firstOrderSample = start;
        this.midPointSigma = sigmaOfT(tNext);
      } else {
        this.firstOrderSample = null;
        this.midPointSigma = null;
      }
    }
    this.stepIndex++;
    return prevSample;
  }

  /** x0 + sigma · noise at the step's sigma (k-diffusion's parameterisation). */
  /** diffusers' `set_begin_index`: the loop starts at `timesteps[beginIndex]` (img2img, inpainting). */
  setBeginIndex(beginIndex: number): void {
    this.beginIndex = checkBeginIndex(this.name, beginIndex, this.timesteps.length);
  }

  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[noiseIndex(this.beginIndex, this.stepIndex, () => this.indexForTimestep(timestep))];
    return Float32Array.from(original, (v, i) => f32(v + f32(noise[i] * sigma)));
  }

  /** Euler-family `index_for_timestep`: the second match if the timestep occurs twice. */
  private indexForTimestep(timestep: number): number {
    const hits: number[] = [];
    this.timesteps.forEach((t, i) => {
      if (t === timestep) hits.push(i);
    });
    if (hits.length === 0) throw new Error(`${this.name}: timestep ${timestep} is not in the schedule`);
    return hits.length > 1 ? hits[1] : hits[0];
  }

  private predictOriginal(modelOutput: Float32Array, sample: Float32Array, sigma: number): Float32Array {
    const out = new Float32Array(sample.length);
    if (this.config.prediction_type === 'epsilon') {
      for (let i = 0; i < out.length; i++) out[i] = f32(sample[i] - f32(sigma * modelOutput[i]));
      return out;
    }
    // v_prediction: model_output * (-sigma / sqrt(sigma² + 1)) + sample / (sigma² + 1)
    const sigmaSquaredPlusOne = f32(f32(sigma * sigma) + 1);
    const vScale = f32(-sigma / f32(Math.sqrt(sigmaSquaredPlusOne)));
    for (let i = 0; i < out.length; i++) {
      out[i] = f32(f32(modelOutput[i] * vScale) + f32(sample[i] / sigmaSquaredPlusOne));
    }
    return out;
  }

  /** One Brownian tree per batch item over [smallest positive sigma, largest sigma]. */
  private createNoiseSampler(options: StepOptions): BrownianTreeNoiseSampler {
    const [batch, ...rest] = options.shape;
    const itemSize = rest.reduce((a, b) => a * b, 1);
    const positive = this.sigmas.filter((s) => s > 0);
    return new BrownianTreeNoiseSampler(
      Math.min(...positive),
      Math.max(...this.sigmas),
      itemSize,
      this.treeSeeds(batch, options.generators),
    );
  }

  private treeSeeds(batch: number, generators: readonly RandomSource[] | undefined): number[] {
    const configured = this.config.noise_sampler_seed;
    if (Array.isArray(configured)) {
      if (configured.length !== batch) {
        throw new Error(`${this.name}: noise_sampler_seed has ${configured.length} seeds for a batch of ${batch}`);
      }
      return configured.map((s) => s >>> 0);
    }
    if (typeof configured === 'number') return Array.from({ length: batch }, (_, i) => deriveSeed(configured, i));
    if (!generators || generators.length !== batch) {
      throw new Error(`${this.name}: pass one generator per batch item (or set noise_sampler_seed)`);
    }
    return generators.map(seedFromRandomSource);
  }
}
