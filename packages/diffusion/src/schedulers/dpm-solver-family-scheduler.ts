/**
 * What diffusers' DPM-Solver family (`DPMSolverMultistepScheduler`, `DPMSolverSinglestepScheduler`,
 * `UniPCMultistepScheduler`) does alike around each class's own `set_timesteps` and updates: the
 * sample stays unscaled, the step index follows the family's `index_for_timestep` (the last index
 * for a timestep not in the schedule), model outputs are converted to x0 or noise predictions at the
 * step's VP coefficients, and `add_noise` uses those coefficients too.
 */
import { StepIndex } from './discrete-sigmas.js';
import {
  alphaSigmaAt,
  dpmIndexForTimestep,
  logSnrPointAt,
  vpAddNoise,
  type LogSnrPoint,
  type VpTrainingSchedule,
} from './dpm-solver-common.js';
import type { Scheduler, StepOptions } from './scheduler.js';
import { notReadyError, type PredictionType } from './scheduler-guards.js';
import { dataPrediction, noisePrediction } from './vp-predictions.js';

export abstract class DpmSolverFamilyScheduler implements Scheduler {
  abstract readonly name: string;
  /** diffusers' class attribute: one model evaluation per step. */
  readonly order = 1;
  readonly initNoiseSigma = 1.0;
  abstract readonly config: { prediction_type: string };
  /** Timesteps after `setTimesteps`, in loop order (empty before). */
  timesteps: number[] = [];
  /** One sigma per timestep, then the final one. */
  sigmas: number[] = [];
  protected abstract readonly training: VpTrainingSchedule;
  protected readonly stepIndex = new StepIndex(dpmIndexForTimestep);

  abstract setTimesteps(numInferenceSteps: number): void;
  abstract step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions): Float32Array;

  /** The DPM-Solver family works on the unscaled sample. */
  scaleModelInput(sample: Float32Array, _timestep: number): Float32Array {
    return sample;
  }

  /** diffusers' `set_begin_index`: the loop starts at `timesteps[beginIndex]` (img2img, inpainting). */
  setBeginIndex(beginIndex: number): void {
    if (this.timesteps.length === 0) throw notReadyError(this.name, 'setBeginIndex');
    this.stepIndex.setBegin(beginIndex, this.timesteps.length, this.name);
  }

  /** `alpha_t * original + sigma_t * noise` at the VP coefficients of the timestep's sigma. */
  addNoise(original: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    if (this.timesteps.length === 0) throw notReadyError(this.name, 'addNoise');
    return vpAddNoise(original, noise, this.sigmas[this.stepIndex.forNoise(this.timesteps, timestep)]);
  }

  /** The schedule index of the step that `step` is taking (`_init_step_index` on the first). */
  protected beginStep(timestep: number): number {
    if (this.timesteps.length === 0) throw notReadyError(this.name, 'step');
    return this.stepIndex.at(this.timesteps, timestep);
  }

  /** The schedule index of the step under way, inside `step`. */
  protected get currentIndex(): number {
    return this.stepIndex.current as number;
  }

  /** VP coefficients and half log-SNR at `sigmas[index]`. */
  protected pointAt(index: number): LogSnrPoint {
    return logSnrPointAt(this.sigmas[index]);
  }

  /** `convert_model_output`: the model output as a prediction of x0 (`toData`) or of the noise. */
  protected convertModelOutput(modelOutput: Float32Array, sample: Float32Array, toData: boolean): Float32Array {
    const at = alphaSigmaAt(this.sigmas[this.currentIndex]);
    const predictionType = this.config.prediction_type as PredictionType;
    return toData
      ? dataPrediction(predictionType, modelOutput, sample, at)
      : noisePrediction(predictionType, modelOutput, sample, at);
  }
}
