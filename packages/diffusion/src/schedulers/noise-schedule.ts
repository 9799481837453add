/**
 * The training noise schedule shared by every DDPM-family sampler: betas, alphas and
 * their cumulative product, computed the way diffusers does in float32 torch tensors.
 */
import type { SchedulerConfig } from './scheduler.js';

const f32 = Math.fround;

/** Keys of SD1.5-era `scheduler_config.json` files that every scheduler reads. */
export interface TrainingSchedule {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  trainedBetas: number[] | null;
}

/**
 * Merges a model's scheduler config over a scheduler class's defaults, exactly as
 * `Class.from_config(config)` does: keys the file has win, missing keys take the class default.
 * `extra` are the sampler-specific overrides (e.g. `use_karras_sigmas: true`).
 */
export function resolveConfig<T extends Record<string, unknown>>(
  defaults: T,
  config: SchedulerConfig,
  extra: Record<string, unknown> = {},
): T {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries({ ...config, ...extra })) {
    if (key in defaults) merged[key] = value;
  }
  return merged as T;
}

/** Lanes of one AVX2 float32 register: torch's CPU kernels fill 2 registers (16 floats) per loop turn. */
const AVX2_FLOAT_LANES = 8;

const float32Bits = new Float32Array(1);
const float32BitsAsInt = new Int32Array(float32Bits.buffer);

/** The float32 next to finite, nonzero `x` in the direction of `towardsLarger`. */
function adjacentFloat32(x: number, towardsLarger: boolean): number {
  float32Bits[0] = x;
  // For a positive float the next larger one has the next bit pattern; for a negative one, the previous.
  float32BitsAsInt[0] += towardsLarger === x > 0 ? 1 : -1;
  return float32Bits[0];
}

/**
 * `fma(a, b, c)` rounded once to float32, for float32 `a`, `b`, `c`: `a * b` is exact in float64
 * (two 24-bit significands); rounding the float64 sum again to float32 is only wrong when that sum
 * sits exactly halfway between two floats, and then the sum's own rounding error says which way to go.
 */
function fmaF32(a: number, b: number, c: number): number {
  const product = a * b;
  const sum = product + c;
  const rounded = f32(sum);
  if (rounded === sum || rounded === 0) return rounded;
  const virtualC = sum - product;
  const error = product - (sum - virtualC) + (c - virtualC); // TwoSum: exact (product + c) - sum
  if (error === 0) return rounded;
  const neighbour = adjacentFloat32(rounded, sum > rounded);
  if ((rounded + neighbour) / 2 !== sum) return rounded;
  const roundUp = error > 0;
  return roundUp === neighbour > rounded ? neighbour : rounded;
}

/**
 * torch.linspace(start, end, steps, dtype=float32) as torch 1.13's AVX2 CPU kernel computes it
 * (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp): `step = (end - start) / (steps - 1)` in
 * float32; the first half counts up from `start`, the second half down from `end`. Output goes out
 * two 8-lane registers at a time: each register's first lane is `start + step * idx` (or
 * `end - step * (steps - idx - 1)`), fused into one FMA by the compiler, and its other lanes are
 * `base + k * step` (`Vectorized<float>::arange`, fused too); the tail of fewer than 16 elements takes the
 * scalar path (also fused). Reproducing this makes SD's betas (and so every sigma) bit-exact.
 */
export function linspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 1) {
    out[0] = start;
    return out;
  }
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  const scalarAt = (idx: number): number => (idx < halfway ? fmaF32(step, idx, s) : fmaF32(-step, steps - idx - 1, e));
  let i = 0;
  for (; i <= steps - 2 * AVX2_FLOAT_LANES; i += 2 * AVX2_FLOAT_LANES) {
    for (let register = i; register < i + 2 * AVX2_FLOAT_LANES; register += AVX2_FLOAT_LANES) {
      const base = scalarAt(register);
      out[register] = base;
      for (let k = 1; k < AVX2_FLOAT_LANES; k++) out[register + k] = fmaF32(k, step, base);
    }
  }
  for (; i < steps; i++) out[i] = scalarAt(i);
  return out;
}

/** numpy.linspace(start, end, steps) in float64. */
export function linspace(start: number, end: number, steps: number): number[] {
  if (steps === 1) return [start];
  const step = (end - start) / (steps - 1);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) out.push(start + i * step);
  out[steps - 1] = end;
  return out;
}

/** diffusers' `betas_for_alpha_bar` with the cosine transform (squaredcos_cap_v2). */
function cosineBetas(n: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    betas[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta);
  }
  return betas;
}

export function trainingBetas(s: TrainingSchedule): Float32Array {
  if (s.trainedBetas) return Float32Array.from(s.trainedBetas);
  switch (s.betaSchedule) {
    case 'linear':
      return linspaceF32(s.betaStart, s.betaEnd, s.numTrainTimesteps);
    case 'scaled_linear': {
      const roots = linspaceF32(Math.sqrt(s.betaStart), Math.sqrt(s.betaEnd), s.numTrainTimesteps);
      return roots.map((r) => f32(r * r));
    }
    case 'squaredcos_cap_v2':
      return cosineBetas(s.numTrainTimesteps);
    default:
      throw new Error(`unsupported beta_schedule ${String(s.betaSchedule)}`);
  }
}

/** alphas_cumprod = cumprod(1 - betas): torch accumulates float32 cumprod in double on CPU. */
export function alphasCumprod(betas: Float32Array): Float32Array {
  const out = new Float32Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= f32(1 - betas[i]);
    out[i] = acc;
  }
  return out;
}

/** Reads the training-schedule keys from a resolved config (snake_case as in diffusers). */
export function trainingScheduleOf(config: Record<string, unknown>): TrainingSchedule {
  return {
    numTrainTimesteps: Number(config.num_train_timesteps ?? 1000),
    betaStart: Number(config.beta_start ?? 0.0001),
    betaEnd: Number(config.beta_end ?? 0.02),
    betaSchedule: (config.beta_schedule ?? 'linear') as TrainingSchedule['betaSchedule'],
    trainedBetas: (config.trained_betas as number[] | null | undefined) ?? null,
  };
}

/**
 * sigma_t = sqrt((1 - ᾱ_t) / ᾱ_t) for every training timestep (k-diffusion's parameterisation),
 * rounded as diffusers computes it: `((1 - alphas_cumprod) / alphas_cumprod) ** 0.5` on float32
 * torch tensors, every operation rounded to float32.
 */
export function trainingSigmas(alphasCumprod: Float32Array): Float64Array {
  return Float64Array.from(alphasCumprod, (a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/**
 * numpy.interp(x, xp, fp) for increasing xp, in float64 with numpy's own operation order
 * (numpy/core/src/multiarray/compiled_base.c): `slope * (x - xp[j]) + fp[j]`, exact knots returned as is.
 */
export function interp(x: number, xp: ArrayLike<number>, fp: ArrayLike<number>): number {
  const n = xp.length;
  if (x <= xp[0]) return fp[0];
  if (x >= xp[n - 1]) return fp[n - 1];
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xp[mid] <= x) lo = mid;
    else hi = mid;
  }
  if (xp[lo] === x) return fp[lo];
  const slope = (fp[hi] - fp[lo]) / (xp[hi] - xp[lo]);
  return slope * (x - xp[lo]) + fp[lo];
}

/** Karras et al. (2022) eq. 5 noise levels, rho = 7, from sigmaMax down to sigmaMin. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): number[] {
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((r) => (maxInvRho + r * (minInvRho - maxInvRho)) ** rho);
}

/**
 * The (fractional) training timestep whose sigma is `sigma`: diffusers' `_sigma_to_t`,
 * a linear interpolation in log-sigma space over the training sigmas.
 */
export function sigmaToT(sigma: number, logSigmas: ArrayLike<number>): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  // logSigmas increase with t; find the last index whose log-sigma is <= logSigma.
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, n - 2);
  const high = low + 1;
  let w = (logSigmas[low] - logSigma) / (logSigmas[low] - logSigmas[high]);
  w = Math.min(Math.max(w, 0), 1);
  return (1 - w) * low + w * high;
}
