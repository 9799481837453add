/**
 * What diffusers' k-diffusion style schedulers (Euler, Euler ancestral, LMS, Heun, KDPM2, KDPM2
 * ancestral, DPM-SDE) do alike around their own `set_timesteps` and `step`: they keep a sigma per
 * schedule entry, find their place in the schedule by step index (`_step_index`, `_begin_index`),
 * scale the model input to unit variance and noise an image as `x0 + sigma * noise`.
 */
import {
  addNoiseAtSigma,
  initNoiseSigmaOf,
  scaleBySigma,
  StepIndex,
  type DiscreteSigmaTable,
} from './discrete-sigmas.js';
import type { Scheduler, StepOptions } from './scheduler.js';
import { checkStepTensors, notReadyError } from './scheduler-guards.js';
import type { TimestepSpacing } from './timestep-spacing.js';

export abstract class SigmaSpaceScheduler implements Scheduler {
  abstract readonly name: string;
  abstract readonly order: number;
  /** The training schedule's sigmas (`init_noise_sigma` reads them before `set_timesteps`). */
  protected abstract readonly table: DiscreteSigmaTable;
  protected abstract readonly spacing: TimestepSpacing;
  /** Timesteps after `setTimesteps`, in loop order (empty before). */
  protected schedule: number[] = [];
  /** The sigma of each schedule entry, then the final one(s). */
  protected sigmaSchedule: number[] = [];
  protected readonly stepIndex = new StepIndex();

  abstract setTimesteps(numInferenceSteps: number): void;
  abstract step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array;

  get timesteps(): readonly number[] {
    return this.schedule;
  }

  get sigmas(): readonly number[] {
    return this.sigmaSchedule;
  }

  get initNoiseSigma(): number {
    return initNoiseSigmaOf(this.sigmaSchedule.length > 0 ? this.sigmaSchedule : this.table.sigmas, this.spacing);
  }

  /** The schedule index of the call under way (`_init_step_index` on first use). */
  protected indexFor(timestep: number, method: string): number {
    if (this.schedule.length === 0) throw notReadyError(this.name, method);
    return this.stepIndex.at(this.schedule, timestep);
  }

  /** What every `step` does first: find the schedule index and check the tensors against each other. */
  protected beginStep(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): number {
    const index = this.indexFor(timestep, 'step');
    checkStepTensors(this.name, modelOutput, sample, options.shape);
    return index;
  }

  /** `sample / sqrt(sigma² + 1)`: the UNet expects unit-variance input. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    return scaleBySigma(sample, this.sigmaSchedule[this.indexFor(timestep, 'scaleModelInput')]);
  }

  /** diffusers' `set_begin_index`: the loop starts at `timesteps[beginIndex]` (img2img, inpainting). */
  setBeginIndex(beginIndex: number): void {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'setBeginIndex');
    this.stepIndex.setBegin(beginIndex, this.schedule.length, this.name);
  }

  /** `original + noise * sigma(timestep)` (img2img's initial latents, inpainting's re-noising). */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (this.schedule.length === 0) throw notReadyError(this.name, 'addNoise');
    return addNoiseAtSigma(original, noise, this.sigmaSchedule[this.stepIndex.forNoise(this.schedule, timestep)]);
  }
}
