/**
 * Sigma-space helpers of diffusers' k-diffusion style discrete schedulers (Euler, Euler ancestral,
 * LMS, Heun, KDPM2, KDPM2 ancestral): the training sigma table, interpolation to inference
 * timesteps, Karras / exponential sigma schedules, sigma → timestep, and step-index lookup, each
 * with the float32 / float64 rounding of the diffusers 0.38 code it mirrors.
 */
import {
  alphasCumprod,
  interp,
  karrasSigmas,
  linspace,
  trainingBetas,
  trainingScheduleOf,
  trainingSigmas,
} from './noise-schedule.js';
import type { TimestepSpacing } from './timestep-spacing.js';

const f32 = Math.fround;

/** The training schedule as the k-diffusion schedulers hold it (float32 values). */
export interface DiscreteSigmaTable {
  alphasCumprod: Float32Array;
  /** `((1 - ᾱ) / ᾱ) ** 0.5` per training timestep, ascending with t. */
  sigmas: Float64Array;
  /** `np.log(sigmas)` of the float32 array: float32 values. */
  logSigmas: Float64Array;
}

export function discreteSigmaTable(config: Record<string, unknown>): DiscreteSigmaTable {
  const cumprod = alphasCumprod(trainingBetas(trainingScheduleOf(config)));
  const sigmas = trainingSigmas(cumprod);
  return { alphasCumprod: cumprod, sigmas, logSigmas: sigmas.map((s) => f32(Math.log(s))) };
}

/** `np.interp(timesteps, np.arange(len(sigmas)), sigmas)`: float64 sigmas at fractional timesteps. */
export function sigmasAtTimesteps(timesteps: readonly number[], sigmas: ArrayLike<number>): number[] {
  const knots = Array.from({ length: sigmas.length }, (_, i) => i);
  return timesteps.map((t) => interp(t, knots, sigmas));
}

/**
 * diffusers' `_convert_to_karras` (k-diffusion's `get_sigmas_karras`, rho = 7) from the float64
 * interpolated sigmas: `sigma_min`/`sigma_max` default to their last/first entries.
 */
export function karrasSigmasFrom(
  inSigmas: readonly number[],
  numInferenceSteps: number,
  sigmaMin?: number | null,
  sigmaMax?: number | null,
): number[] {
  return karrasSigmas(sigmaMin ?? inSigmas[inSigmas.length - 1], sigmaMax ?? inSigmas[0], numInferenceSteps);
}

/** diffusers' `_convert_to_exponential`: `exp(linspace(log(sigma_max), log(sigma_min), N))` in float64. */
export function exponentialSigmasFrom(
  inSigmas: readonly number[],
  numInferenceSteps: number,
  sigmaMin?: number | null,
  sigmaMax?: number | null,
): number[] {
  const min = sigmaMin ?? inSigmas[inSigmas.length - 1];
  const max = sigmaMax ?? inSigmas[0];
  return linspace(Math.log(max), Math.log(min), numInferenceSteps).map(Math.exp);
}

/** The config keys of diffusers' optional sigma conversions (`sigma_min`/`sigma_max`: Euler's only). */
export interface SigmaConversionConfig {
  use_karras_sigmas: boolean;
  use_exponential_sigmas: boolean;
  sigma_min?: number | null;
  sigma_max?: number | null;
}

/** diffusers' `__init__` check: at most one sigma conversion (Kiln rejects `use_beta_sigmas` separately). */
export function checkSigmaConversion(className: string, config: SigmaConversionConfig): void {
  if (config.use_karras_sigmas && config.use_exponential_sigmas) {
    throw new Error(`${className}: only one of use_karras_sigmas and use_exponential_sigmas can be set`);
  }
}

/**
 * The `use_karras_sigmas` / `use_exponential_sigmas` branch of `set_timesteps`: the converted
 * float64 sigmas and, for each, its fractional timestep (`_sigma_to_t` of a float64 sigma).
 * Without a conversion the inputs come back as they are.
 */
export function convertSigmas(
  config: SigmaConversionConfig,
  schedule: { sigmas: number[]; timesteps: number[] },
  numInferenceSteps: number,
  logSigmas: ArrayLike<number>,
): { sigmas: number[]; timesteps: number[] } {
  let sigmas: number[];
  if (config.use_karras_sigmas) {
    sigmas = karrasSigmasFrom(schedule.sigmas, numInferenceSteps, config.sigma_min, config.sigma_max);
  } else if (config.use_exponential_sigmas) {
    sigmas = exponentialSigmasFrom(schedule.sigmas, numInferenceSteps, config.sigma_min, config.sigma_max);
  } else {
    return schedule;
  }
  return { sigmas, timesteps: sigmas.map((s) => sigmaToTimestep(s, logSigmas, 'numpy-float64')) };
}

/**
 * How a sigma reaches diffusers' `_sigma_to_t`, which decides its arithmetic (numpy 1.x value-based
 * casting against the float32 `log_sigmas`):
 * - `numpy-float64`: a float64 numpy scalar (the Karras/exponential sigmas): the distances and the
 *   weight are float32, the final `(1 - w) * low_idx + w * high_idx` float64 (int64 index arrays).
 * - `torch-float32`: a 0-dim float32 torch tensor (KDPM2's interpolated sigmas): the log is float64,
 *   every later value a float32 tensor, the final blend included.
 */
export type SigmaSource = 'numpy-float64' | 'torch-float32';

/**
 * diffusers' `_sigma_to_t`: the fractional training timestep of `sigma`, linear in log-sigma
 * between the two training sigmas around it (clamped to the table), `logSigmas` ascending float32.
 */
export function sigmaToTimestep(sigma: number, logSigmas: ArrayLike<number>, source: SigmaSource): number {
  if (Number.isNaN(sigma)) return NaN;
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const logSigma32 = f32(logSigma);
  const n = logSigmas.length;
  // np.cumsum(dists >= 0).argmax(): the last index whose distance is >= 0 (0 when none is).
  let low = 0;
  for (let i = 0; i < n; i++) if (f32(logSigma32 - logSigmas[i]) >= 0) low = i;
  low = Math.min(low, n - 2);
  const high = low + 1;
  const lowLog = logSigmas[low];
  const highLog = logSigmas[high];
  let w = f32(f32(lowLog - logSigma32) / f32(lowLog - highLog));
  w = Math.min(Math.max(w, 0), 1);
  if (source === 'torch-float32') return f32(f32(f32(1 - w) * low) + f32(w * high));
  return f32(1 - w) * low + w * high;
}

/**
 * diffusers' `index_for_timestep`: where `timestep` sits in the schedule; when it occurs more than
 * once (Heun, KDPM2), the second occurrence, so a run starting mid-schedule (img2img) never skips a sigma.
 */
export function indexForTimestep(timesteps: readonly number[], timestep: number): number {
  const hits: number[] = [];
  timesteps.forEach((t, i) => {
    if (t === timestep) hits.push(i);
  });
  if (hits.length === 0) {
    throw new Error(`timestep ${timestep} is not one of the scheduler's timesteps [${timesteps.join(', ')}]`);
  }
  return hits.length > 1 ? hits[1] : hits[0];
}

/**
 * `init_noise_sigma` of the k-diffusion schedulers: the largest sigma for "linspace"/"trailing"
 * spacing, `(max ** 2 + 1) ** 0.5` (float32 tensor arithmetic) for "leading". Before `set_timesteps`
 * diffusers holds the whole training table, so callers pass that then.
 */
export function initNoiseSigmaOf(sigmas: ArrayLike<number>, spacing: TimestepSpacing): number {
  let max = -Infinity;
  for (let i = 0; i < sigmas.length; i++) {
    if (Number.isNaN(sigmas[i])) return NaN; // torch.max propagates NaN
    max = Math.max(max, sigmas[i]);
  }
  if (spacing === 'linspace' || spacing === 'trailing') return max;
  return f32(Math.sqrt(f32(f32(max * max) + 1)));
}

/** `torch.cat([x[:1], x[1:].repeat_interleave(2)])`: the doubled schedules of the two-call samplers. */
export function repeatAfterFirst(values: readonly number[]): number[] {
  const out = [values[0]];
  for (let i = 1; i < values.length; i++) out.push(values[i], values[i]);
  return out;
}

/** `torch.cat([x[:1], x[1:].repeat_interleave(2), x[-1:]])`: KDPM2's doubled schedules. */
export function interleaveSecondOrder(values: readonly number[]): number[] {
  return [...repeatAfterFirst(values), values[values.length - 1]];
}

/**
 * `torch.cat([t[:1], torch.stack((t_mid, t[1:]), dim=1).flatten()])`: each step's timestep preceded by
 * the timestep of its midpoint evaluation (KDPM2, DPM-SDE); `midpoints[i]` belongs to step i + 1.
 */
export function interleaveMidpoints(timesteps: readonly number[], midpoints: readonly number[]): number[] {
  const out = [timesteps[0]];
  for (let i = 1; i < timesteps.length; i++) out.push(midpoints[i - 1], timesteps[i]);
  return out;
}

/**
 * `a.log().lerp(b.log(), 0.5).exp()` on float32 tensors: the geometric mean of two sigmas as KDPM2
 * computes its midpoints (torch's lerp takes `b - (b - a) * 0.5` for weights >= 0.5).
 */
export function logMidpointF32(a: number, b: number): number {
  const logA = f32(Math.log(a));
  const logB = f32(Math.log(b));
  return f32(Math.exp(f32(logB - f32(f32(logB - logA) * 0.5))));
}

/** `(sigma ** 2 + 1) ** 0.5` in float32: the k-diffusion input scaling divisor. */
export function inputScaleDivisor(sigma: number): number {
  return f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
}

/** `sample / ((sigma ** 2 + 1) ** 0.5)` elementwise in float32 (`scale_model_input`). */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  const divisor = inputScaleDivisor(sigma);
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(sample[i] / divisor);
  return out;
}

/** `original + noise * sigma` elementwise in float32: `add_noise` of the sigma-space schedulers. */
export function addNoiseAtSigma(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  if (noise.length !== original.length) throw new Error('addNoise: noise and original differ in length');
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(original[i] + f32(noise[i] * sigma));
  return out;
}

/**
 * diffusers' `_step_index` and `_begin_index`: both unset after `set_timesteps`; the step index
 * starts at the begin index when the pipeline set one (img2img), else at the first timestep
 * `scale_model_input`/`step` sees (`index_for_timestep`, or the DPM-Solver family's variant passed
 * as `lookup`), and each step advances it.
 */
export class StepIndex {
  private index: number | null = null;
  private begin: number | null = null;

  constructor(private readonly lookup: (timesteps: readonly number[], timestep: number) => number = indexForTimestep) {}

  /** The index of the step under way; null before the first `at` after a reset. */
  get current(): number | null {
    return this.index;
  }

  reset(): void {
    this.index = null;
    this.begin = null;
  }

  /** diffusers' `set_begin_index`, with a teaching error for an index outside the schedule. */
  setBegin(begin: number, scheduleLength: number, schedulerName: string): void {
    if (!Number.isInteger(begin) || begin < 0 || begin >= scheduleLength) {
      throw new RangeError(
        `${schedulerName}: begin index ${begin} is outside the ${scheduleLength} timesteps set by setTimesteps`,
      );
    }
    this.begin = begin;
  }

  /** The current index, initialised on first use from the begin index or from `timestep`. */
  at(timesteps: readonly number[], timestep: number): number {
    this.index ??= this.begin ?? this.lookup(timesteps, timestep);
    return this.index;
  }

  /**
   * The schedule index `add_noise` reads its sigma at, as diffusers: without a begin index, where
   * `timestep` sits; with one, the current step (inpainting's re-noising inside the loop), or the
   * begin index before the first step (img2img's initial latents).
   */
  forNoise(timesteps: readonly number[], timestep: number): number {
    if (this.begin === null) return this.lookup(timesteps, timestep);
    return this.index ?? this.begin;
  }

  advance(): void {
    if (this.index !== null) this.index++;
  }
}
