/**
 * Helpers of the alpha-space samplers (DDIM, DDPM, PNDM), which index the training schedule's
 * cumulative alphas by integer timestep and never scale the model input.
 */
import { alphasCumprod, trainingBetas, trainingScheduleOf } from './noise-schedule.js';

const f32 = Math.fround;

/** `alphas_cumprod` of a resolved config: `torch.cumprod(1 - betas)` (float32). */
export function trainingAlphasCumprod(config: Record<string, unknown>): Float32Array {
  return alphasCumprod(trainingBetas(trainingScheduleOf(config)));
}

/** Throws unless `timestep` is an integer index into the training schedule. */
export function checkTrainingTimestep(className: string, timestep: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(timestep) || timestep < 0 || timestep >= numTrainTimesteps) {
    throw new Error(`${className}: timestep must be an integer in [0, ${numTrainTimesteps}), got ${timestep}`);
  }
}

/**
 * The forward process q(x_t | x_0) (DDPM eq. 4): `sqrt(ᾱ_t) * x0 + sqrt(1 - ᾱ_t) * noise`,
 * float32 as diffusers' `DDPMScheduler.add_noise` computes it.
 */
export function addNoiseAtTimestep(
  cumprod: Float32Array,
  original: Float32Array,
  noise: Float32Array,
  timestep: number,
): Float32Array {
  if (noise.length !== original.length) throw new Error('addNoise: noise and original differ in length');
  const alphaProd = cumprod[timestep];
  const signalScale = f32(Math.sqrt(alphaProd));
  const noiseScale = f32(Math.sqrt(f32(1 - alphaProd)));
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(f32(signalScale * original[i]) + f32(noiseScale * noise[i]));
  return out;
}
