/**
 * Pieces shared by the DPM-Solver family (multistep, singlestep, UniPC, DPM-SDE), each reproducing
 * the float32 / float64 arithmetic of the diffusers 0.38 source they mirror
 * (`scheduling_dpmsolver_multistep.py`, `scheduling_dpmsolver_singlestep.py`,
 * `scheduling_unipc_multistep.py`, `scheduling_dpmsolver_sde.py`).
 */
import {
  alphasCumprod,
  karrasSigmas,
  linspace,
  sigmaToT,
  trainingBetas,
  trainingScheduleOf,
} from './noise-schedule.js';

const f32 = Math.fround;

/** numpy's `round`: halves go to the even neighbour (`np.round(0.5) == 0`, `np.round(499.5) == 500`). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * `np.arange(start, stop, step)` in float64: numpy fills `start + i * delta` with
 * `delta = (start + step) - start`, which is not always exactly `step`.
 */
export function arange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  return Array.from({ length }, (_, i) => (i === 0 ? start : start + i * delta));
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
 * Throws when a config switches on an option Kiln does not implement, instead of silently
 * computing something diffusers would not. `offValues` maps each key to the value meaning "off".
 */
export function rejectUnsupportedOptions(
  className: string,
  config: Record<string, unknown>,
  offValues: Record<string, unknown>,
): void {
  for (const [key, off] of Object.entries(offValues)) {
    const value = config[key];
    const isOff = value === off || (off === null && value === undefined) || (off === false && !value);
    if (!isOff) throw new Error(`${className}: ${key}=${JSON.stringify(value)} is not supported`);
  }
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

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/**
 * The integer timesteps of DPM-Solver / UniPC `set_timesteps` for each `timestep_spacing`
 * (table 2 of arXiv:2305.08891). `lastTimestep` is the clipped range (`num_train_timesteps`
 * for UniPC, which does not clip).
 */
export function spacedIntegerTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  lastTimestep: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  const n = numInferenceSteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, lastTimestep - 1, n + 1)
        .map(roundHalfEven)
        .reverse()
        .slice(0, n);
    case 'leading': {
      const ratio = Math.floor(lastTimestep / (n + 1));
      const ts: number[] = [];
      for (let i = n; i >= 1; i--) ts.push(roundHalfEven(i * ratio) + stepsOffset);
      return ts;
    }
    case 'trailing':
      return arange(lastTimestep, 0, -numTrainTimesteps / n).map((t) => roundHalfEven(t) - 1);
    default:
      throw new Error(`timestep_spacing ${String(spacing)} is not supported`);
  }
}

/** `np.interp(timesteps, np.arange(len(sigmas)), sigmas)` in float64. */
export function sigmasAtTimesteps(timesteps: readonly number[], sigmas: ArrayLike<number>): number[] {
  const last = sigmas.length - 1;
  return timesteps.map((t) => {
    if (t <= 0) return sigmas[0];
    if (t >= last) return sigmas[last];
    const lo = Math.floor(t);
    const slope = sigmas[lo + 1] - sigmas[lo];
    return slope * (t - lo) + sigmas[lo];
  });
}

/**
 * Karras et al. (2022) sigmas between the smallest and largest training sigma (diffusers'
 * `_convert_to_karras` on the flipped float32 sigmas) and their fractional timesteps
 * (`_sigma_to_t`, not yet rounded).
 */
export function karrasScheduleOver(
  sigmaMin: number,
  sigmaMax: number,
  numInferenceSteps: number,
  logSigmas: ArrayLike<number>,
): { sigmas: number[]; timesteps: number[] } {
  const sigmas = karrasSigmas(sigmaMin, sigmaMax, numInferenceSteps);
  return { sigmas, timesteps: sigmas.map((s) => sigmaToT(s, logSigmas)) };
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

/** diffusers' `set_begin_index` argument check: an index into the schedule `setTimesteps` made. */
export function checkBeginIndex(schedulerName: string, beginIndex: number, scheduleLength: number): number {
  if (scheduleLength === 0) throw new Error(`${schedulerName}: call setTimesteps before setBeginIndex`);
  if (!Number.isInteger(beginIndex) || beginIndex < 0 || beginIndex >= scheduleLength) {
    throw new RangeError(`${schedulerName}: begin index ${beginIndex} is outside the ${scheduleLength} timesteps set by setTimesteps`);
  }
  return beginIndex;
}

/**
 * The schedule index diffusers' `add_noise` uses: without a begin index, where the timestep sits;
 * with one, the current step (inpainting inside the loop), or the begin index before the first step.
 */
export function noiseIndex(beginIndex: number | null, stepIndex: number | null, lookup: () => number): number {
  if (beginIndex === null) return lookup();
  return stepIndex ?? beginIndex;
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

export type PredictionType = 'epsilon' | 'sample' | 'v_prediction';

/** The model output turned into a prediction of x0 (what DPM-Solver++ and UniPC's `predict_x0` integrate). */
export function dataPrediction(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  at: { alpha: number; sigma: number },
): Float32Array {
  const out = new Float32Array(sample.length);
  switch (predictionType) {
    case 'epsilon':
      for (let i = 0; i < out.length; i++) out[i] = f32(f32(sample[i] - f32(at.sigma * modelOutput[i])) / at.alpha);
      return out;
    case 'sample':
      out.set(modelOutput);
      return out;
    case 'v_prediction':
      for (let i = 0; i < out.length; i++) out[i] = f32(f32(at.alpha * sample[i]) - f32(at.sigma * modelOutput[i]));
      return out;
    default:
      throw new Error(`prediction_type ${String(predictionType)} is not supported`);
  }
}

/** The model output turned into a prediction of the noise (what DPM-Solver, not ++, integrates). */
export function noisePrediction(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  at: { alpha: number; sigma: number },
): Float32Array {
  const out = new Float32Array(sample.length);
  switch (predictionType) {
    case 'epsilon':
      out.set(modelOutput);
      return out;
    case 'sample':
      for (let i = 0; i < out.length; i++) out[i] = f32(f32(sample[i] - f32(at.alpha * modelOutput[i])) / at.sigma);
      return out;
    case 'v_prediction':
      for (let i = 0; i < out.length; i++) out[i] = f32(f32(at.alpha * modelOutput[i]) + f32(at.sigma * sample[i]));
      return out;
    default:
      throw new Error(`prediction_type ${String(predictionType)} is not supported`);
  }
}

/** `add_noise` of the DPM-Solver family: `alpha_t * x0 + sigma_t * noise` at the sigma's VP coefficients. */
export function vpAddNoise(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  const at = alphaSigmaAt(sigma);
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(f32(at.alpha * original[i]) + f32(at.sigma * noise[i]));
  return out;
}
