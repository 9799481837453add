/**
 * The model output read as a prediction of the clean sample x0 or of the noise ε at a point of a
 * variance-preserving schedule, x_t = α_t·x0 + σ_t·ε (DDIM's √ᾱ_t and √(1 − ᾱ_t), or the DPM-Solver
 * family's coefficients of a k-diffusion sigma), float32 as diffusers computes it.
 */
import type { PredictionType } from './scheduler-guards.js';

const f32 = Math.fround;

/** The VP coefficients α_t and σ_t of one timestep. */
export interface VpCoefficients {
  alpha: number;
  sigma: number;
}

/**
 * The model output as a prediction of x0: DDIM's `pred_original_sample`, and what DPM-Solver++ and
 * UniPC's `predict_x0` integrate.
 */
export function dataPrediction(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  at: VpCoefficients,
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

/** The model output as a prediction of the noise: DDIM's `pred_epsilon`, and what DPM-Solver (not ++) integrates. */
export function noisePrediction(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  at: VpCoefficients,
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
