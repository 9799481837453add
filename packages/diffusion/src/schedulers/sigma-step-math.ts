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
