/**
 * Pieces shared by the DPM-Solver family (multistep, singlestep, UniPC), each reproducing the
 * float32 / float64 arithmetic of the diffusers 0.38 source they mirror
 * (`scheduling_dpmsolver_multistep.py`, `scheduling_dpmsolver_singlestep.py`,
 * `scheduling_unipc_multistep.py`).
 */
import { alphasCumprod, karrasSigmas, sigmaToT, trainingBetas, trainingScheduleOf } from './noise-schedule.js';

const f32 = Math.fround;

/** diffusers' `algorithm_type`s Kiln implements. */
export type DpmSolverAlgorithm = 'dpmsolver' | 'dpmsolver++' | 'sde-dpmsolver' | 'sde-dpmsolver++';

/** How the second- and third-order updates weigh the divided differences (diffusers' `solver_type`). */
export type DpmSolverType = 'midpoint' | 'heun';

/** `algorithm_type` as diffusers reads it (`deis`, a sibling scheduler's name, becomes `dpmsolver++`). */
export function dpmSolverAlgorithm<A extends DpmSolverAlgorithm>(
  className: string,
  value: string,
  implemented: readonly A[],
): A {
  const algorithm = value === 'deis' ? 'dpmsolver++' : value;
  if (!(implemented as readonly string[]).includes(algorithm)) {
    throw new Error(`${className}: algorithm_type ${algorithm} is not implemented`);
  }
  return algorithm as A;
}

/** `solver_type` as diffusers reads it (UniPC's `logrho`, `bh1` and `bh2` become `midpoint`). */
export function dpmSolverType(className: string, value: string): DpmSolverType {
  if (['logrho', 'bh1', 'bh2'].includes(value)) return 'midpoint';
  if (value === 'midpoint' || value === 'heun') return value;
  throw new Error(`${className}: solver_type ${value} is not implemented`);
}

/** A config number, also accepting the strings "Infinity", "-Infinity" and "NaN" that strict JSON uses. */
export function configNumber(value: unknown, key: string): number {
  if (typeof value === 'number') return value;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  if (value === 'NaN') return NaN;
  throw new Error(`scheduler config ${key} must be a number, got ${JSON.stringify(value)}`);
}

/**
 * The training noise schedule as DPM-family `__init__`s hold it, all float32 torch tensors:
 * `alphas_cumprod`, k-diffusion `sigmas = ((1 - ᾱ) / ᾱ) ** 0.5`, their float32 logs (numpy's
 * `np.log` of the float32 array) and `lambda_t = log(sqrt(ᾱ)) - log(sqrt(1 - ᾱ))`.
 */
export interface VpTrainingSchedule {
  alphasCumprod: Float32Array;
  sigmas: Float32Array;
  logSigmas: Float32Array;
  lambdas: Float32Array;
}

export function vpTrainingSchedule(config: Record<string, unknown>): VpTrainingSchedule {
  const cumprod = alphasCumprod(trainingBetas(trainingScheduleOf(config)));
  const n = cumprod.length;
  const sigmas = new Float32Array(n);
  const logSigmas = new Float32Array(n);
  const lambdas = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const a = cumprod[i];
    sigmas[i] = f32(Math.sqrt(f32(f32(1 - a) / a)));
    logSigmas[i] = f32(Math.log(sigmas[i]));
    const alphaT = f32(Math.sqrt(a));
    const sigmaT = f32(Math.sqrt(f32(1 - a)));
    lambdas[i] = f32(f32(Math.log(alphaT)) - f32(Math.log(sigmaT)));
  }
  return { alphasCumprod: cumprod, sigmas, logSigmas, lambdas };
}

/**
 * `num_train_timesteps - torch.searchsorted(torch.flip(lambda_t), lambda_min_clipped)`: the
 * timestep range left after dropping the steps whose log-SNR is below `lambda_min_clipped`.
 */
export function lastTimestepAfterClipping(lambdas: Float32Array, lambdaMinClipped: number): number {
  let below = 0;
  for (const lambda of lambdas) if (lambda < lambdaMinClipped) below++;
  return lambdas.length - below;
}

/**
 * Karras et al. (2022) sigmas between `sigmaMin` and `sigmaMax`, by default the smallest and largest
 * training sigma (diffusers' `_convert_to_karras` on the flipped float32 sigmas), and their
 * fractional timesteps (`_sigma_to_t`, not yet rounded).
 */
export function karrasScheduleOver(
  training: VpTrainingSchedule,
  numInferenceSteps: number,
  sigmaMin?: number | null,
  sigmaMax?: number | null,
): { sigmas: number[]; timesteps: number[] } {
  const sigmas = karrasSigmas(
    sigmaMin ?? training.sigmas[0],
    sigmaMax ?? training.sigmas[training.sigmas.length - 1],
    numInferenceSteps,
  );
  return { sigmas, timesteps: sigmas.map((s) => sigmaToT(s, training.logSigmas)) };
}

/**
 * The sigma appended after the schedule's last (`final_sigmas_type`): 0, or `sigmaMin` (the
 * smallest training sigma, or UniPC's smallest Karras sigma).
 */
export function finalSigma(className: string, finalSigmasType: string, sigmaMin: number): number {
  if (finalSigmasType === 'sigma_min') return sigmaMin;
  if (finalSigmasType === 'zero') return 0;
  throw new Error(`${className}: final_sigmas_type must be zero or sigma_min, got ${finalSigmasType}`);
}

/**
 * diffusers' `index_for_timestep` of the DPM-Solver family: the position of `timestep` in the
 * schedule, the second one when it occurs twice (so img2img never skips a sigma), and the last
 * index when it does not occur at all.
 */
export function dpmIndexForTimestep(timesteps: readonly number[], timestep: number): number {
  const hits: number[] = [];
  timesteps.forEach((t, i) => {
    if (t === timestep) hits.push(i);
  });
  if (hits.length === 0) return timesteps.length - 1;
  return hits.length > 1 ? hits[1] : hits[0];
}

/** `_sigma_to_alpha_sigma_t` of a variance-preserving schedule, in float32 torch arithmetic. */
export function alphaSigmaAt(sigma: number): { alpha: number; sigma: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  return { alpha, sigma: f32(sigma * alpha) };
}

/** Half log-SNR `lambda = log(alpha_t) - log(sigma_t)` in float32 (+Infinity at sigma 0). */
export function logSnrAt(point: { alpha: number; sigma: number }): number {
  return f32(f32(Math.log(point.alpha)) - f32(Math.log(point.sigma)));
}

/** A point of the schedule as the solvers use it: VP coefficients α_t, σ_t and half log-SNR λ. */
export interface LogSnrPoint {
  alpha: number;
  sigma: number;
  lambda: number;
}

/** The `LogSnrPoint` of a k-diffusion sigma. */
export function logSnrPointAt(sigma: number): LogSnrPoint {
  const at = alphaSigmaAt(sigma);
  return { ...at, lambda: logSnrAt(at) };
}

/** `add_noise` of the DPM-Solver family: `alpha_t * x0 + sigma_t * noise` at the sigma's VP coefficients. */
export function vpAddNoise(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  if (noise.length !== original.length) throw new Error('addNoise: noise and original differ in length');
  const at = alphaSigmaAt(sigma);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(f32(at.alpha * original[i]) + f32(at.sigma * noise[i]));
  return out;
}
