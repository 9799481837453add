import type { RandomSource } from '../rng/random-source.js';
import type { BrownianNoiseSource } from './brownian-tree.js';

/**
 * The scheduler config as read from a model's `scheduler/scheduler_config.json`. Keys the file
 * lacks take the scheduler class's own defaults (diffusers' `Class.from_config(config)`).
 */
export type SchedulerConfig = Record<string, unknown>;

/** Per-call inputs of `step` besides the tensors. */
export interface StepOptions {
  /** Full batch shape of `sample`, e.g. [B, 4, H/8, W/8]. */
  shape: readonly number[];
  /** One generator per batch item; ancestral/SDE samplers draw their noise from them, item by item. */
  generators?: readonly RandomSource[];
  /** DDIM's eta (0 = deterministic); ignored by schedulers without one. */
  eta?: number;
  /**
   * Where Brownian-tree noise is drawn (DPM++ SDE): inline by default; a denoising loop passes a
   * source that draws it ahead on another thread while the UNet runs. Same numbers either way.
   */
  brownianNoise?: BrownianNoiseSource;
}

/**
 * A diffusion sampler as a pure object, mirroring diffusers' scheduler API.
 * Tensors are flat float32 arrays in NCHW order; `step` returns a new array and never mutates its inputs.
 */
export interface Scheduler {
  /** diffusers' class this scheduler reproduces, e.g. "DDIMScheduler". */
  readonly name: string;
  /** How many model evaluations one "step" of the user's step count costs (Heun/KDPM2: 2; PNDM varies). */
  readonly order: number;
  /** Timesteps fed to the UNet, in loop order, after `setTimesteps`. */
  readonly timesteps: readonly number[];
  /** Sigmas after `setTimesteps`, for schedulers that have them (Karras-style); else undefined. */
  readonly sigmas?: readonly number[];
  /** Standard deviation of the initial noise (multiply the drawn latents by it). */
  readonly initNoiseSigma: number;
  setTimesteps(numInferenceSteps: number): void;
  /** Scales the denoising model input (identity for DDPM-style schedulers). */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  /**
   * Called before the model evaluates `timestep`, with the options its `step` will get, so that
   * work which does not depend on the model's output starts while the model runs (DPM++ SDE's
   * Brownian noise). Optional for the caller: `step` does the same work when this was not called.
   */
  beforeModel?(timestep: number, options: StepOptions): void;
  /** One reverse-diffusion step: from the model output at `timestep` and the current sample, the previous sample. */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array;
  /** Forward-noises `original` to the noise level of `timestep` (img2img, inpainting). */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array;
  /**
   * diffusers' `set_begin_index`, called after `setTimesteps` when the loop starts part-way
   * (img2img and inpainting run `timesteps[beginIndex:]`): the first step, and `addNoise` before
   * it, use schedule index `beginIndex` instead of searching for the timestep (which is ambiguous
   * where a timestep occurs twice). Optional, as in diffusers: schedulers that index their
   * tables by the timestep value itself (DDIM, DDPM, PNDM) have no step index to set.
   */
  setBeginIndex?(beginIndex: number): void;
}
