/**
 * diffusers' `UniPCMultistepScheduler` (UniPC, arXiv:2302.04867): a multistep predictor (UniP) whose
 * result is refined, once the model has been evaluated there, by a corrector (UniC), with the B(h)
 * variants bh1 and bh2 (default).
 *
 * Symbols of the paper: h = λ_t − λ_s0 (half log-SNR step), r_k = (λ_sk − λ_s0)/h, D1_k = (m_k − m0)/r_k,
 * φ_k the exponential-integrator functions (h·φ1 = expm1(±h)), B(h) = h or expm1(h), and ρ the
 * weights solving the order conditions R·ρ = b (predictor ρ_p, corrector ρ_c).
 */
import { sigmasAtTimesteps } from './discrete-sigmas.js';
import {
  finalSigma,
  karrasScheduleOver,
  vpTrainingSchedule,
  type LogSnrPoint,
  type VpTrainingSchedule,
} from './dpm-solver-common.js';
import { DpmSolverFamilyScheduler } from './dpm-solver-family-scheduler.js';
import { differenceOverF32, linearCombinationF32 } from './float32-linear-combination.js';
import { resolveConfig } from './noise-schedule.js';
import type { SchedulerConfig, StepOptions } from './scheduler.js';
import { rejectEnabledOptions } from './scheduler-guards.js';
import { solveLinearSystemF32 } from './small-linear-solve.js';
import { numpyRound, spacedIntegerTimesteps, type TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;
const expm1F32 = (x: number) => f32(Math.expm1(x));

/** `UniPCMultistepScheduler.__init__` defaults of diffusers 0.38. */
export const UNIPC_DEFAULTS = {
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
  predict_x0: true,
  solver_type: 'bh2',
  lower_order_final: true,
  disable_corrector: [] as number[],
  solver_p: null as unknown,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  final_sigmas_type: 'zero',
  rescale_betas_zero_snr: false,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
  sigma_min: null as number | null,
  sigma_max: null as number | null,
  shift_terminal: null as number | null,
};

export type UniPcConfig = typeof UNIPC_DEFAULTS;

/** UniPC predictor–corrector multistep sampler, following diffusers' float32 arithmetic. */
export class UniPCMultistepScheduler extends DpmSolverFamilyScheduler {
  readonly name = 'UniPCMultistepScheduler';
  readonly config: UniPcConfig;
  protected readonly training: VpTrainingSchedule;
  private readonly solverType: 'bh1' | 'bh2';
  private modelOutputs: (Float32Array | null)[] = [];
  private lowerOrderNums = 0;
  /** The sample the last predictor started from (x_{t-1} of the corrector). */
  private lastSample: Float32Array | null = null;
  private thisOrder = 1;

  constructor(config: SchedulerConfig, extra: Record<string, unknown> = {}) {
    super();
    this.config = resolveConfig(UNIPC_DEFAULTS, config, extra);
    const c = this.config;
    rejectEnabledOptions(this.name, c, {
      thresholding: false,
      solver_p: null,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      use_flow_sigmas: false,
      rescale_betas_zero_snr: false,
      use_dynamic_shifting: false,
      shift_terminal: null,
    });
    // diffusers maps the other solvers' names onto bh2.
    if (c.solver_type === 'bh1' || c.solver_type === 'bh2') this.solverType = c.solver_type;
    else if (['midpoint', 'heun', 'logrho'].includes(c.solver_type)) this.solverType = 'bh2';
    else throw new Error(`${this.name}: solver_type ${c.solver_type} is not implemented`);
    if (c.solver_order < 1) throw new Error(`${this.name}: solver_order must be at least 1`);
    this.training = vpTrainingSchedule(c);
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const train = this.training;
    let timesteps = spacedIntegerTimesteps(
      c.timestep_spacing as TimestepSpacing,
      numInferenceSteps,
      c.num_train_timesteps,
      c.num_train_timesteps,
      c.steps_offset,
    );
    let sigmas: number[];
    let sigmaMin: number;
    if (c.use_karras_sigmas) {
      const karras = karrasScheduleOver(train, numInferenceSteps, c.sigma_min, c.sigma_max);
      sigmas = karras.sigmas;
      timesteps = karras.timesteps.map(numpyRound);
      sigmaMin = sigmas[sigmas.length - 1];
    } else {
      sigmas = sigmasAtTimesteps(timesteps, train.sigmas);
      sigmaMin = train.sigmas[0];
    }
    this.sigmas = [...sigmas, finalSigma(this.name, c.final_sigmas_type, sigmaMin)].map(f32);
    this.timesteps = timesteps;
    this.modelOutputs = new Array(c.solver_order).fill(null);
    this.lowerOrderNums = 0;
    this.lastSample = null;
    this.stepIndex.reset();
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _options: StepOptions): Float32Array {
    const index = this.beginStep(timestep);
    const c = this.config;
    const useCorrector = index > 0 && !c.disable_corrector.includes(index - 1) && this.lastSample !== null;

    const converted = this.convertModelOutput(modelOutput, sample, c.predict_x0);
    let current = sample;
    if (useCorrector) current = this.correct(converted, this.lastSample as Float32Array, this.thisOrder);

    this.modelOutputs.shift();
    this.modelOutputs.push(converted);

    const wanted = c.lower_order_final ? Math.min(c.solver_order, this.timesteps.length - index) : c.solver_order;
    this.thisOrder = Math.min(wanted, this.lowerOrderNums + 1); // warm-up of the multistep history
    this.lastSample = current;
    const prevSample = this.predict(current, this.thisOrder);

    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    this.stepIndex.advance();
    return prevSample;
  }

  /**
   * The B(h) coefficients shared by predictor and corrector: with hh = -h (data prediction) or h,
   * h·φ1 = expm1(hh), B(h) = hh (bh1) or expm1(hh) (bh2), and the right-hand sides
   * b_i = h·φ_{i+1}(hh)·i! / B(h) of the order conditions.
   */
  private bhCoefficients(h: number, order: number) {
    const hh = this.config.predict_x0 ? -h : h;
    const hPhi1 = expm1F32(hh);
    const bH = this.solverType === 'bh1' ? hh : expm1F32(hh);
    let hPhiK = f32(f32(hPhi1 / hh) - 1);
    let factorial = 1;
    const b: number[] = [];
    for (let i = 1; i <= order; i++) {
      b.push(f32(f32(hPhiK * factorial) / bH));
      factorial *= i + 1;
      hPhiK = f32(f32(hPhiK / hh) - f32(1 / factorial));
    }
    return { hPhi1, bH, b };
  }

  /**
   * `rks` (log-SNR ratios of earlier steps) and D1s = (m_i - m0) / r_i for the earlier converted
   * outputs; `firstEarlierIndex` is the sigma index of the step before the base point.
   */
  private earlierDifferences(base: LogSnrPoint, h: number, m0: Float32Array, order: number, firstEarlierIndex: number) {
    const rks: number[] = [];
    const d1s: Float32Array[] = [];
    for (let i = 1; i < order; i++) {
      const mi = this.modelOutputs[this.modelOutputs.length - 1 - i] as Float32Array;
      const lambdaSi = this.pointAt(firstEarlierIndex - (i - 1)).lambda;
      const rk = f32(f32(lambdaSi - base.lambda) / h);
      rks.push(rk);
      d1s.push(differenceOverF32(mi, m0, rk));
    }
    rks.push(1);
    return { rks, d1s };
  }

  /** R[i][k] = rks[k] ** i, the order-condition matrix. */
  private static orderMatrix(rks: readonly number[], order: number): number[][] {
    const rows: number[][] = [];
    for (let i = 0; i < order; i++) rows.push(rks.map((r) => (i === 0 ? 1 : i === 1 ? r : f32(r ** i))));
    return rows;
  }

  /** UniP-p with B(h): from `sample` at sigmas[stepIndex] to sigmas[stepIndex + 1]. */
  private predict(sample: Float32Array, order: number): Float32Array {
    const index = this.currentIndex;
    const t = this.pointAt(index + 1);
    const s0 = this.pointAt(index);
    const m0 = this.modelOutputs[this.modelOutputs.length - 1] as Float32Array;
    const h = f32(t.lambda - s0.lambda);
    const { rks, d1s } = this.earlierDifferences(s0, h, m0, order, index - 1);
    const { hPhi1, bH, b } = this.bhCoefficients(h, order);

    let rhosP: number[] = [];
    if (d1s.length > 0) {
      // For order 2 diffusers uses the simplified rho = 0.5 instead of solving the 1×1 system.
      rhosP =
        order === 2
          ? [0.5]
          : solveLinearSystemF32(
              UniPCMultistepScheduler.orderMatrix(rks, order)
                .slice(0, -1)
                .map((row) => row.slice(0, -1)),
              b.slice(0, -1),
            );
    }
    const predX0 = this.config.predict_x0;
    const base = linearCombinationF32([
      [predX0 ? f32(t.sigma / s0.sigma) : f32(t.alpha / s0.alpha), sample],
      [-(predX0 ? f32(t.alpha * hPhi1) : f32(t.sigma * hPhi1)), m0],
    ]);
    if (d1s.length === 0) return base;
    const predRes = linearCombinationF32(d1s.map((d1, k) => [f32(rhosP[k]), d1] as const));
    return linearCombinationF32([
      [1, base],
      [-(predX0 ? f32(t.alpha * bH) : f32(t.sigma * bH)), predRes],
    ]);
  }

  /**
   * UniC-p with B(h): the corrected sample at sigmas[stepIndex], rebuilt from the predictor's start
   * `lastSample` with the model output `modelT` now known there.
   */
  private correct(modelT: Float32Array, lastSample: Float32Array, order: number): Float32Array {
    const index = this.currentIndex;
    const t = this.pointAt(index);
    const s0 = this.pointAt(index - 1);
    const m0 = this.modelOutputs[this.modelOutputs.length - 1] as Float32Array;
    const h = f32(t.lambda - s0.lambda);
    const { rks, d1s } = this.earlierDifferences(s0, h, m0, order, index - 2);
    const { hPhi1, bH, b } = this.bhCoefficients(h, order);
    // For order 1 diffusers uses the simplified rho = 0.5.
    const rhosC = order === 1 ? [0.5] : solveLinearSystemF32(UniPCMultistepScheduler.orderMatrix(rks, order), b);

    const predX0 = this.config.predict_x0;
    const base = linearCombinationF32([
      [predX0 ? f32(t.sigma / s0.sigma) : f32(t.alpha / s0.alpha), lastSample],
      [-(predX0 ? f32(t.alpha * hPhi1) : f32(t.sigma * hPhi1)), m0],
    ]);
    const rhoLast = f32(rhosC[rhosC.length - 1]);
    const correction = new Float32Array(base.length);
    const corrRes = d1s.length > 0 ? linearCombinationF32(d1s.map((d1, k) => [f32(rhosC[k]), d1] as const)) : null;
    for (let i = 0; i < correction.length; i++) {
      const d1t = f32(modelT[i] - m0[i]);
      const scaled = f32(rhoLast * d1t);
      correction[i] = corrRes ? f32(corrRes[i] + scaled) : scaled;
    }
    return linearCombinationF32([
      [1, base],
      [-(predX0 ? f32(t.alpha * bH) : f32(t.sigma * bH)), correction],
    ]);
  }
}
