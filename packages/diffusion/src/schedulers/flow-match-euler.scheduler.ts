/**
 * Euler integration of a rectified-flow (flow-matching) model's velocity, as diffusers 0.38's
 * `FlowMatchEulerDiscreteScheduler` (src/diffusers/schedulers/scheduling_flow_match_euler_discrete.py),
 * the sampler of Stable Diffusion 3. The model predicts v = noise − x0; a step moves the sample
 * along it from σ_i to σ_{i+1}: `x + (σ_{i+1} − σ_i) · v`. Nothing is drawn.
 *
 * Precision follows diffusers: the training sigmas are float32 torch tensors; `set_timesteps`
 * spaces the timesteps with numpy in float64 from the float32 sigma_max/sigma_min, shifts them
 * again in float64 (so the schedule is shifted twice: the last sigma is 0.0089, not sigma_min),
 * then casts to float32; timesteps are `float32(σ) × 1000` in float32.
 */
import { StepIndex } from './discrete-sigmas.js';
import { resolveConfig } from './noise-schedule.js';
import type { Scheduler, SchedulerConfig, StepOptions } from './scheduler.js';
import { checkInferenceSteps, checkStepTensors, notReadyError, rejectEnabledOptions } from './scheduler-guards.js';

const f32 = Math.fround;

/** `FlowMatchEulerDiscreteScheduler.__init__`'s defaults (diffusers 0.38). */
export const FLOW_MATCH_EULER_DEFAULTS = {
  num_train_timesteps: 1000,
  shift: 1.0,
  use_dynamic_shifting: false,
  base_shift: 0.5 as number | null,
  max_shift: 1.15 as number | null,
  base_image_seq_len: 256 as number | null,
  max_image_seq_len: 4096 as number | null,
  invert_sigmas: false,
  shift_terminal: null as number | null,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  time_shift_type: 'exponential',
  stochastic_sampling: false,
};

export type FlowMatchEulerConfig = typeof FLOW_MATCH_EULER_DEFAULTS;

export class FlowMatchEulerDiscreteScheduler implements Scheduler {
  readonly name = 'FlowMatchEulerDiscreteScheduler';
  readonly order = 1;
  /** The SD3 pipeline never scales its initial noise (and diffusers' value is 1.0). */
  readonly initNoiseSigma = 1;
  readonly config: Readonly<FlowMatchEulerConfig>;
  /** The shifted training sigmas' ends, as Python floats of float32 values (`sigmas[-1].item()`). */
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  private schedule: number[] = [];
  private sigmaSchedule: number[] = [];
  private readonly stepIndex = new StepIndex();

  /** `FlowMatchEulerDiscreteScheduler.from_config(config)`: SD3 Medium's config sets `shift` 3.0. */
  constructor(config: SchedulerConfig = {}) {
    this.config = resolveConfig(FLOW_MATCH_EULER_DEFAULTS, config);
    const c = this.config;
    // Options SD3 Medium's scheduler leaves off; computing something else silently would be worse than refusing.
    rejectEnabledOptions(this.name, c, {
      use_dynamic_shifting: false,
      invert_sigmas: false,
      shift_terminal: null,
      use_karras_sigmas: false,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      stochastic_sampling: false,
    });
    if (!(typeof c.shift === 'number' && c.shift > 0)) throw new Error(`${this.name}: shift must be a positive number`);
    const n = c.num_train_timesteps;
    if (!Number.isInteger(n) || n < 1) throw new Error(`${this.name}: num_train_timesteps must be a positive integer`);
    // np.linspace(1, N, N, dtype=float32)[::-1] / N, then shifted, all in float32 torch arithmetic.
    const shifted = (t: number) => this.shiftF32(f32(f32(t) / n));
    this.sigmaMax = shifted(n);
    this.sigmaMin = shifted(1);
  }

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  /** One sigma per timestep, then the final 0. */
  get sigmas(): readonly number[] {
    return this.sigmaSchedule;
  }

  /** `shift·σ / (1 + (shift − 1)·σ)` on a float32 tensor: every operation rounds to float32. */
  private shiftF32(sigma: number): number {
    const shift = this.config.shift;
    return f32(f32(shift * sigma) / f32(1 + f32((shift - 1) * sigma)));
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    checkInferenceSteps(this.name, numInferenceSteps, c.num_train_timesteps);
    const n = c.num_train_timesteps;
    // np.linspace(sigma_max·N, sigma_min·N, steps) in float64: start + i·step, the last one exactly `stop`.
    const start = this.sigmaMax * n;
    const stop = this.sigmaMin * n;
    const step = numInferenceSteps > 1 ? (stop - start) / (numInferenceSteps - 1) : 0;
    const grid = Array.from({ length: numInferenceSteps }, (_, i) =>
      i > 0 && i === numInferenceSteps - 1 ? stop : i * step + start,
    );
    const shift = c.shift;
    const sigmas = grid.map((t) => {
      const s = t / n;
      return f32((shift * s) / (1 + (shift - 1) * s));
    });
    this.schedule = sigmas.map((s) => f32(s * n));
    this.sigmaSchedule = [...sigmas, 0];
    this.stepIndex.reset();
  }

  /** The flow-matching model takes its input unscaled. */
  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** diffusers' `set_begin_index`: image-to-image starts at `timesteps[beginIndex]`. */
  setBeginIndex(beginIndex: number): void {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'setBeginIndex');
    this.stepIndex.setBegin(beginIndex, this.schedule.length, this.name);
  }

  /** `x + (σ_next − σ) · v`, in float32; the last step goes to σ = 0. */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'step');
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    const index = this.stepIndex.at(this.schedule, timestep);
    const dt = f32(this.sigmaSchedule[index + 1] - this.sigmaSchedule[index]);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = sample[i] + f32(dt * modelOutput[i]);
    this.stepIndex.advance();
    return out;
  }

  /**
   * The forward process `σ·noise + (1 − σ)·sample` (diffusers' `scale_noise`): image-to-image's
   * initial latents. σ is the begin index's sigma when one is set (before the first step), else
   * the sigma of `timestep`'s place in the schedule.
   */
  scaleNoise(sample: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'scaleNoise');
    if (sample.length !== noise.length) {
      throw new Error(`${this.name}.scaleNoise: sample (${sample.length}) and noise (${noise.length}) differ in size`);
    }
    const sigma = this.sigmaSchedule[this.stepIndex.forNoise(this.schedule, timestep)];
    const keep = f32(1 - sigma);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = f32(sigma * noise[i]) + f32(keep * sample[i]);
    return out;
  }

  /** The Scheduler interface's forward-noising is flow matching's `scale_noise`. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    return this.scaleNoise(original, noise, timestep);
  }
}
