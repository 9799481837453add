/**
 * Elementwise float32 arithmetic shared by the sigma-space (k-diffusion) samplers' `step`s,
 * in the operation order of diffusers 0.38, each operation rounded to float32 as a float32 torch
 * tensor op is.
 */

import type { PredictionType } from './scheduler-guards.js';

const f32 = Math.fround;

/**
 * The model's prediction of the clean sample x0 at noise level `sigma`:
 * - epsilon: `sample - sigma * model_output`
 * - v_prediction: `model_output * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)`
 * - sample: the model output itself
 */
export function predictOriginalSample(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
): Float32Array {
  const out = new Float32Array(sample.length);
  switch (predictionType) {
    case 'epsilon':
      for (let i = 0; i < out.length; i++) out[i] = f32(sample[i] - f32(sigma * modelOutput[i]));
      return out;
    case 'v_prediction': {
      const variance = f32(f32(sigma * sigma) + 1);
      const outputScale = f32(-sigma / f32(Math.sqrt(variance)));
      for (let i = 0; i < out.length; i++) {
        out[i] = f32(f32(modelOutput[i] * outputScale) + f32(sample[i] / variance));
      }
      return out;
    }
    case 'sample':
      out.set(modelOutput);
      return out;
  }
}

/** The probability-flow ODE derivative `(sample - pred_original_sample) / sigma`. */
export function odeDerivative(sample: Float32Array, predOriginal: Float32Array, sigma: number): Float32Array {
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(f32(sample[i] - predOriginal[i]) / sigma);
  return out;
}

/** One Euler move along the derivative: `sample + derivative * dt`. */
export function eulerMove(sample: Float32Array, derivative: Float32Array, dt: number): Float32Array {
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(sample[i] + f32(derivative[i] * dt));
  return out;
}

/**
 * k-diffusion's `get_ancestral_step` (eta = 1) in float32: a move from `sigmaFrom` to `sigmaTo` split
 * into a deterministic part down to `down` and fresh noise of size `up`, with down² + up² = to².
 * k-diffusion caps `up` at `sigmaTo` (`capUpAtSigmaTo`, DPM-SDE); diffusers' Euler ancestral and
 * KDPM2 ancestral do not.
 */
export function ancestralStep(
  sigmaFrom: number,
  sigmaTo: number,
  capUpAtSigmaTo = false,
): { up: number; down: number } {
  const fromSq = f32(sigmaFrom * sigmaFrom);
  const toSq = f32(sigmaTo * sigmaTo);
  const upUncapped = f32(Math.sqrt(f32(f32(toSq * f32(fromSq - toSq)) / fromSq)));
  const up = capUpAtSigmaTo ? Math.min(sigmaTo, upUncapped) : upUncapped;
  const down = f32(Math.sqrt(f32(toSq - f32(up * up))));
  return { up, down };
}

/** Ancestral noise injection `sample + noise * sigmaUp`. */
export function addScaledNoise(sample: Float32Array, noise: Float32Array, sigmaUp: number): Float32Array {
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(sample[i] + f32(noise[i] * sigmaUp));
  return out;
}

/** `tensor.clamp(-range, range)`. */
export function clampSymmetric(values: Float32Array, range: number): Float32Array {
  const r = f32(range);
  return values.map((v) => Math.min(Math.max(v, -r), r));
}
