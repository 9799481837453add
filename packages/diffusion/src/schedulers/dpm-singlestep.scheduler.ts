/**
 * diffusers' `DPMSolverSinglestepScheduler`: singlestep DPM-Solver(++) (arXiv:2206.00927,
 * arXiv:2211.01095). Steps are grouped by the order list ([1, 2, 1, 2, …] for order 2); a group
 * of order k integrates from the sample at its first step over k model evaluations.
 *
 * Symbols as in dpm-multistep.scheduler.ts (α_t, σ_t, λ, h, r0, D0, D1), except that h and the
 * ratios are measured from the group's first point s1 (order 2) or s2 (order 3).
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
  type VpTrainingSchedule,
  checkBeginIndex,
  noiseIndex,
} from './dpm-solver-common.js';
import { linearCombinationF32, scaledDifferenceF32, type ScaledTensor } from './float32-linear-combination.js';
import { resolveConfig } from './noise-schedule.js';
import type { Scheduler, SchedulerConfig, StepOptions } from './scheduler.js';

const f32 = Math.fround;
const expF32 = (x: number) => f32(Math.exp(x));

/** `DPMSolverSinglestepScheduler.__init__` defaults of diffusers 0.38 (it has no timestep_spacing). */
export const DPM_SINGLESTEP_DEFAULTS = {
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
  lower_order_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity as number | string,
  variance_type: null as string | null,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
};

export type DpmSinglestepConfig = typeof DPM_SINGLESTEP_DEFAULTS;

type AlgorithmType = 'dpmsolver' | 'dpmsolver++' | 'sde-dpmsolver++';

/** Singlestep DPM-Solver(++) sampler, following diffusers' float32 arithmetic. */
export class DPMSolverSinglestepScheduler implements Scheduler {
  readonly name = 'DPMSolverSinglestepScheduler';
  readonly order = 1;
  readonly initNoiseSigma = 1.0;
  readonly config: DpmSinglestepConfig;
  timesteps: number[] = [];
  sigmas: number[] = [];
  /** Solver order of each step. */
  orderList: number[] = [];

  private readonly training: VpTrainingSchedule;
  private readonly algorithm: AlgorithmType;
  private readonly solverType: 'midpoint' | 'heun';
  private modelOutputs: (Float32Array | null)[] = [];
  /** The sample at the first step of the current order group. */
  private groupSample: Float32Array | null = null;
  private stepIndex: number | null = null;
  private beginIndex: number | null = null;

  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    this.config = resolveConfig(DPM_SINGLESTEP_DEFAULTS, config, extra);
    const c = this.config;
    rejectUnsupportedOptions(this.name, c, {
      thresholding: false,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      use_flow_sigmas: false,
      use_dynamic_shifting: false,
      variance_type: null,
    });
    const algorithm = c.algorithm_type === 'deis' ? 'dpmsolver++' : c.algorithm_type;
    if (!['dpmsolver', 'dpmsolver++', 'sde-dpmsolver++'].includes(algorithm)) {
      throw new Error(`${this.name}: algorithm_type ${algorithm} is not implemented`);
    }
    this.algorithm = algorithm as AlgorithmType;
    if (['logrho', 'bh1', 'bh2'].includes(c.solver_type)) this.solverType = 'midpoint';
    else if (c.solver_type === 'midpoint' || c.solver_type === 'heun') this.solverType = c.solver_type;
    else throw new Error(`${this.name}: solver_type ${c.solver_type} is not implemented`);
    if (this.algorithm === 'dpmsolver' && c.final_sigmas_type === 'zero') {
      throw new Error(`${this.name}: final_sigmas_type zero is not supported for algorithm_type dpmsolver`);
    }
    if (![1, 2, 3].includes(c.solver_order)) throw new Error(`${this.name}: solver_order must be 1, 2 or 3`);
    this.training = vpTrainingSchedule(c);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const train = this.training;
    const lastTimestep = lastTimestepAfterClipping(train.lambdas, configNumber(c.lambda_min_clipped, 'lambda_min_clipped'));
    // Singlestep always spaces linearly: linspace(0, T - 1 - clipped, n + 1), rounded, reversed.
    let timesteps = spacedIntegerTimesteps('linspace', numInferenceSteps, lastTimestep, c.num_train_timesteps, 0);
    let sigmas: number[];
    if (c.use_karras_sigmas) {
      const karras = karrasScheduleOver(
        train.sigmas[0],
        train.sigmas[train.sigmas.length - 1],
        numInferenceSteps,
        train.logSigmas,
      );
      sigmas = karras.sigmas;
      timesteps = karras.timesteps.map(roundHalfEven);
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
    this.groupSample = null;
    // diffusers switches lower_order_final on for uneven step counts and for a zero final sigma,
    // and the switch persists in the config.
    if (!c.lower_order_final && (numInferenceSteps % c.solver_order !== 0 || c.final_sigmas_type === 'zero')) {
      c.lower_order_final = true;
    }
    this.orderList = this.computeOrderList(numInferenceSteps);
    this.stepIndex = null;
    this.beginIndex = null;
  }

  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.timesteps.length === 0) throw new Error(`${this.name}: call setTimesteps before step`);
    if (this.stepIndex === null) this.stepIndex = this.beginIndex ?? dpmIndexForTimestep(this.timesteps, timestep);
    const converted = this.convertModelOutput(modelOutput, sample);
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);

    let noise: Float32Array | null = null;
    if (this.algorithm === 'sde-dpmsolver++') {
      if (!options.generators) throw new Error(`${this.name}: sde-dpmsolver++ needs generators for its noise`);
      noise = randnPerItem(options.generators, options.shape);
    }

    let order = this.orderList[this.stepIndex];
    // img2img may start inside a group: lower the order until the history suffices.
    while (this.modelOutputs[this.modelOutputs.length - order] === null) order--;
    if (order === 1) this.groupSample = sample;

    const groupSample = this.groupSample as Float32Array;
    let prevSample: Float32Array;
    if (order === 1) prevSample = this.firstOrderUpdate(converted, groupSample, noise);
    else if (order === 2) prevSample = this.secondOrderUpdate(groupSample, noise);
    else prevSample = this.thirdOrderUpdate(groupSample, noise);
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

  /** diffusers' `get_order_list`. */
  private computeOrderList(steps: number): number[] {
    const order = this.config.solver_order;
    const repeat = (pattern: number[], times: number) => Array.from({ length: Math.max(times, 0) }, () => pattern).flat();
    let orders: number[];
    if (this.config.lower_order_final) {
      if (order === 3) {
        if (steps % 3 === 0) orders = [...repeat([1, 2, 3], steps / 3 - 1), 1, 2, 1];
        else if (steps % 3 === 1) orders = [...repeat([1, 2, 3], Math.floor(steps / 3)), 1];
        else orders = [...repeat([1, 2, 3], Math.floor(steps / 3)), 1, 2];
      } else if (order === 2) {
        orders = steps % 2 === 0 ? [...repeat([1, 2], steps / 2 - 1), 1, 1] : [...repeat([1, 2], Math.floor(steps / 2)), 1];
      } else {
        orders = new Array(steps).fill(1);
      }
    } else if (order === 3) {
      orders = repeat([1, 2, 3], Math.floor(steps / 3));
    } else if (order === 2) {
      orders = repeat([1, 2], Math.floor(steps / 2));
    } else {
      orders = new Array(steps).fill(1);
    }
    if (this.config.final_sigmas_type === 'zero') orders[orders.length - 1] = 1;
    return orders;
  }

  private convertModelOutput(modelOutput: Float32Array, sample: Float32Array): Float32Array {
    const at = alphaSigmaAt(this.sigmas[this.stepIndex as number]);
    const predictionType = this.config.prediction_type as PredictionType;
    return this.algorithm === 'dpmsolver'
      ? noisePrediction(predictionType, modelOutput, sample, at)
      : dataPrediction(predictionType, modelOutput, sample, at);
  }

  private pointAt(offset: number) {
    const at = alphaSigmaAt(this.sigmas[(this.stepIndex as number) + offset]);
    return { ...at, lambda: logSnrAt(at) };
  }

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
          [noiseScale(t.sigma, h), noise as Float32Array],
        ]);
    }
  }

  /** Order 2: from the group's first sample at sigmas[i - 1] to sigmas[i + 1]. */
  private secondOrderUpdate(sample: Float32Array, noise: Float32Array | null): Float32Array {
    const t = this.pointAt(1);
    const s0 = this.pointAt(0);
    const s1 = this.pointAt(-1);
    const [m1, m0] = this.modelOutputs.slice(-2) as Float32Array[];
    const h = f32(t.lambda - s1.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / h);
    const D0 = m1;
    const D1 = scaledDifferenceF32(m0, m1, f32(1 / r0));
    const midpoint = this.solverType === 'midpoint';
    const terms: ScaledTensor[] = [];
    switch (this.algorithm) {
      case 'dpmsolver++': {
        const phi = f32(t.alpha * f32(expF32(-h) - 1));
        terms.push([f32(t.sigma / s1.sigma), sample], [-phi, D0]);
        terms.push(midpoint ? [-f32(0.5 * phi), D1] : [f32(t.alpha * f32(f32(f32(expF32(-h) - 1) / h) + 1)), D1]);
        break;
      }
      case 'dpmsolver': {
        const phi = f32(t.sigma * f32(expF32(h) - 1));
        terms.push([f32(t.alpha / s1.alpha), sample], [-phi, D0]);
        terms.push(midpoint ? [-f32(0.5 * phi), D1] : [-f32(t.sigma * f32(f32(f32(expF32(h) - 1) / h) - 1)), D1]);
        break;
      }
      case 'sde-dpmsolver++': {
        const phi = f32(t.alpha * f32(1 - expF32(f32(-2 * h))));
        terms.push([f32(f32(t.sigma / s1.sigma) * expF32(-h)), sample], [phi, D0]);
        terms.push(
          midpoint
            ? [f32(0.5 * phi), D1]
            : [f32(t.alpha * f32(f32(f32(1 - expF32(f32(-2 * h))) / f32(-2 * h)) + 1)), D1],
        );
        terms.push([noiseScale(t.sigma, h), noise as Float32Array]);
        break;
      }
    }
    return linearCombinationF32(terms);
  }

  /** Order 3: from the group's first sample at sigmas[i - 2] to sigmas[i + 1]. */
  private thirdOrderUpdate(sample: Float32Array, noise: Float32Array | null): Float32Array {
    const t = this.pointAt(1);
    const s0 = this.pointAt(0);
    const s1 = this.pointAt(-1);
    const s2 = this.pointAt(-2);
    const [m2, m1, m0] = this.modelOutputs.slice(-3) as Float32Array[];
    const h = f32(t.lambda - s2.lambda);
    const h0 = f32(s0.lambda - s2.lambda);
    const h1 = f32(s1.lambda - s2.lambda);
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const D0 = m2;
    const D1_0 = scaledDifferenceF32(m1, m2, f32(1 / r1));
    const D1_1 = scaledDifferenceF32(m0, m2, f32(1 / r0));
    // D1 = (r0 * D1_0 - r1 * D1_1) / (r0 - r1);  D2 = 2 * (D1_1 - D1_0) / (r0 - r1)
    const rDiff = f32(r0 - r1);
    const D1 = new Float32Array(D0.length);
    const D2 = new Float32Array(D0.length);
    for (let i = 0; i < D0.length; i++) {
      D1[i] = f32(f32(f32(r0 * D1_0[i]) - f32(r1 * D1_1[i])) / rDiff);
      D2[i] = f32(f32(2 * f32(D1_1[i] - D1_0[i])) / rDiff);
    }
    const midpoint = this.solverType === 'midpoint';
    switch (this.algorithm) {
      case 'dpmsolver++': {
        const e = f32(expF32(-h) - 1);
        const terms: ScaledTensor[] = [
          [f32(t.sigma / s2.sigma), sample],
          [-f32(t.alpha * e), D0],
          [f32(t.alpha * f32(f32(e / h) + 1)), midpoint ? D1_1 : D1],
        ];
        if (!midpoint) terms.push([-f32(t.alpha * f32(f32(f32(e + h) / f32(h * h)) - 0.5)), D2]);
        return linearCombinationF32(terms);
      }
      case 'dpmsolver': {
        const e = f32(expF32(h) - 1);
        const terms: ScaledTensor[] = [
          [f32(t.alpha / s2.alpha), sample],
          [-f32(t.sigma * e), D0],
          [-f32(t.sigma * f32(f32(e / h) - 1)), midpoint ? D1_1 : D1],
        ];
        if (!midpoint) terms.push([-f32(t.sigma * f32(f32(f32(e - h) / f32(h * h)) - 0.5)), D2]);
        return linearCombinationF32(terms);
      }
      case 'sde-dpmsolver++': {
        const e = f32(1 - expF32(f32(-2 * h)));
        const minus2h = f32(-2 * h);
        const terms: ScaledTensor[] = [
          [f32(f32(t.sigma / s2.sigma) * expF32(-h)), sample],
          [f32(t.alpha * e), D0],
          [f32(t.alpha * f32(f32(e / minus2h) + 1)), midpoint ? D1_1 : D1],
        ];
        if (!midpoint) {
          terms.push([f32(t.alpha * f32(f32(f32(e + minus2h) / f32(minus2h * minus2h)) - 0.5)), D2]);
        }
        terms.push([noiseScale(t.sigma, h), noise as Float32Array]);
        return linearCombinationF32(terms);
      }
    }
  }
}

/** `sigma_t * sqrt(1 - exp(-2h))`: the noise scale of SDE-DPM-Solver++. */
function noiseScale(sigmaT: number, h: number): number {
  return f32(sigmaT * f32(Math.sqrt(f32(1 - expF32(f32(-2 * h))))));
}
