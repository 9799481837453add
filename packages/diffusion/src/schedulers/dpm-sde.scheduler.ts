/**
 * diffusers' `DPMSolverSDEScheduler`: k-diffusion's DPM-Solver++ SDE (`sample_dpmpp_sde`, r = 1/2)
 * as a scheduler. Every step of the user's count is two model evaluations: a first-order move to the
 * log-sigma midpoint, then the full step using the midpoint's denoised prediction; both add Brownian
 * noise. The noise comes from Kiln's own Brownian tree (see brownian-tree.ts), so results are
 * deterministic per seed but not bit-equal to diffusers, which draws from torchsde.
 */
import type { RandomSource } from '../rng/random-source.js';
import {
  BrownianTreeNoiseSampler,
  deriveSeed,
  seedFromRandomSource,
  type BrownianNoise,
  type BrownianNoiseSpec,
} from './brownian-tree.js';
import {
  discreteSigmaTable,
  interleaveMidpoints,
  repeatAfterFirst,
  scaleBySigma,
  sigmasAtTimesteps,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import { linearCombinationF32 } from './float32-linear-combination.js';
import { karrasSigmas, resolveConfig, sigmaToT } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import { checkPredictionType, rejectEnabledOptions, type PredictionType } from './scheduler-guards.js';
import { SigmaSpaceScheduler } from './sigma-space-scheduler.js';
import { ancestralStep, eulerMove, odeDerivative, predictOriginalSample } from './sigma-step-math.js';
import { checkTimestepSpacing, float64Timesteps, type TimestepSpacing } from './timestep-spacing.js';

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

/**
 * DPM-Solver++ SDE (2 model calls per step) with Brownian-tree noise; `sigmas` holds 2N values:
 * σ_0, then σ_1 … σ_{N-1} twice each, then 0.
 */
export class DPMSolverSDEScheduler extends SigmaSpaceScheduler {
  readonly name = 'DPMSolverSDEScheduler';
  /** diffusers' class attribute: two model evaluations per step. */
  readonly order = 2;
  readonly config: DpmSdeConfig;
  protected readonly table: DiscreteSigmaTable;
  protected readonly spacing: TimestepSpacing;
  private readonly predictionType: PredictionType;
  /** The sample at the start of the current step while its midpoint evaluation is pending. */
  private firstOrderSample: Float32Array | null = null;
  private midPointSigma: number | null = null;
  private noiseSampler: BrownianNoise | null = null;

  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(DPM_SDE_DEFAULTS, config, extra);
    rejectEnabledOptions(this.name, this.config, { use_exponential_sigmas: false, use_beta_sigmas: false });
    this.predictionType = checkPredictionType(this.name, this.config.prediction_type, ['epsilon', 'v_prediction']);
    this.spacing = checkTimestepSpacing(this.name, this.config.timestep_spacing);
    this.table = discreteSigmaTable(this.config);
    // As diffusers' __init__: a full-length schedule, so init_noise_sigma is defined from the start.
    this.setTimesteps(this.config.num_train_timesteps);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const n = numInferenceSteps;
    const logSigmas = this.table.logSigmas;
    let timesteps = float64Timesteps(this.spacing, n, c.num_train_timesteps, c.steps_offset);
    let sigmas = sigmasAtTimesteps(timesteps, this.table.sigmas);
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
    // cat([s[:1], s[1:-1].repeat_interleave(2), s[-1:]]) of the sigmas with their final 0
    this.sigmaSchedule = [...repeatAfterFirst(sigmas.map(f32)), 0];
    this.schedule = interleaveMidpoints(timesteps, midTimesteps);
    this.stepIndex.reset();
    this.firstOrderSample = null;
    this.midPointSigma = null;
    this.noiseSampler = null;
  }

  /** sample / sqrt(sigma² + 1), with the midpoint's sigma during the second evaluation. */
  override scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const index = this.indexFor(timestep, 'scaleModelInput');
    const sigma = this.firstOrderSample === null ? this.sigmaSchedule[index] : (this.midPointSigma as number);
    return scaleBySigma(sample, sigma);
  }

  /**
   * Starts the loop's Brownian noise before the first model call: its queries follow from the
   * schedule, and its seeds are drawn from the generators as `step` would draw them.
   */
  beforeModel(timestep: number, options: StepOptions): void {
    if (this.noiseSampler !== null) return;
    this.noiseSampler = this.createNoiseSampler(options, this.indexFor(timestep, 'beforeModel'));
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    const index = this.beginStep(modelOutput, timestep, sample, options);
    const firstOrder = this.firstOrderSample === null;
    if (this.noiseSampler === null) this.noiseSampler = this.createNoiseSampler(options, index);
    const { sigma, sigmaNext, t, tProposed, tNext } = this.callTimes(index, firstOrder);

    const sigmaInput = firstOrder ? sigma : sigmaOfT(tProposed);
    const denoised = predictOriginalSample(this.predictionType, modelOutput, sample, sigmaInput);

    let prevSample: Float32Array;
    if (sigmaNext === 0) {
      // Final Euler step to sigma 0: x + (x - x0)/sigma * (0 - sigma).
      prevSample = eulerMove(sample, odeDerivative(sample, denoised, sigma), f32(sigmaNext - sigma));
    } else {
      const start = firstOrder ? sample : (this.firstOrderSample as Float32Array);
      // The move from sigma(t) to sigma(tNext) as a deterministic part to sigma_down plus fresh
      // noise of size sigma_up.
      const { up: sigmaUp, down: sigmaDown } = ancestralStep(sigmaOfT(t), sigmaOfT(tNext), true);
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
    this.stepIndex.advance();
    return prevSample;
  }

  /**
   * The sigmas of the call at schedule `index` and k-diffusion's times: the step runs from t to
   * tNext, which is the log-sigma midpoint tProposed in a first-order call.
   */
  private callTimes(index: number, firstOrder: boolean) {
    const sigma = firstOrder ? this.sigmaSchedule[index] : this.sigmaSchedule[index - 1];
    const sigmaNext = firstOrder ? this.sigmaSchedule[index + 1] : this.sigmaSchedule[index];
    const t = tOfSigma(sigma);
    const tFull = tOfSigma(sigmaNext);
    const tProposed = f32(t + f32(f32(tFull - t) * 0.5));
    return { sigma, sigmaNext, t, tProposed, tNext: firstOrder ? tProposed : tFull };
  }

  /** Every noise query of the calls from schedule `index` (a first-order call) to the end. */
  private noiseQueries(index: number): Array<[number, number]> {
    const queries: Array<[number, number]> = [];
    for (let i = index, firstOrder = true; i + 1 < this.sigmaSchedule.length; i++, firstOrder = !firstOrder) {
      const { sigmaNext, t, tNext } = this.callTimes(i, firstOrder);
      if (sigmaNext !== 0) queries.push([sigmaOfT(t), sigmaOfT(tNext)]);
    }
    return queries;
  }

  /** One Brownian tree per batch item over [smallest positive sigma, largest sigma]. */
  private createNoiseSampler(options: StepOptions, index: number): BrownianNoise {
    const [batch, ...rest] = options.shape;
    const positive = this.sigmaSchedule.filter((s) => s > 0);
    const spec: BrownianNoiseSpec = {
      sigmaMin: Math.min(...positive),
      sigmaMax: Math.max(...this.sigmaSchedule),
      itemSize: rest.reduce((a, b) => a * b, 1),
      seeds: this.treeSeeds(batch, options.generators),
      queries: this.noiseQueries(index),
    };
    return (options.brownianNoise ?? BrownianTreeNoiseSampler.fromSpec)(spec);
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
