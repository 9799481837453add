/**
 * What the alpha-space samplers (DDIM, DDPM, PNDM) do alike around their own `set_timesteps` and
 * `step`: they index the training schedule's cumulative alphas ᾱ_t by integer timestep, never scale
 * the model input, start from unit-variance noise and noise an image with the forward process.
 */
import { alphasCumprod, trainingBetas, trainingScheduleOf } from './noise-schedule.js';
import type { Scheduler, StepOptions } from './scheduler.js';

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

export abstract class AlphaSpaceScheduler implements Scheduler {
  abstract readonly name: string;
  readonly order = 1;
  readonly initNoiseSigma = 1;
  abstract readonly config: Readonly<{ num_train_timesteps: number }>;
  protected abstract readonly alphasCumprod: Float32Array;
  /** Timesteps after `setTimesteps`, in loop order (empty before). */
  protected schedule: number[] = [];

  abstract setTimesteps(numInferenceSteps: number): void;
  abstract step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array;

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /**
   * The forward process q(x_t | x_0) (DDPM eq. 4): `sqrt(ᾱ_t) * x0 + sqrt(1 - ᾱ_t) * noise`,
   * float32 as diffusers' `add_noise` computes it.
   */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    checkTrainingTimestep(this.name, timestep, this.config.num_train_timesteps);
    if (noise.length !== original.length) throw new Error('addNoise: noise and original differ in length');
    const alphaProd = this.alphasCumprod[timestep];
    const signalScale = f32(Math.sqrt(alphaProd));
    const noiseScale = f32(Math.sqrt(f32(1 - alphaProd)));
    const out = new Float32Array(original.length);
    for (let i = 0; i < out.length; i++) out[i] = f32(f32(signalScale * original[i]) + f32(noiseScale * noise[i]));
    return out;
  }
}
