/**
 * Checks every sampler makes before it computes anything, with errors that say what to do.
 */
import { randnPerItem } from '../rng/random-source.js';
import type { StepOptions } from './scheduler.js';

/** The error for `step`/`scaleModelInput` before `setTimesteps`: diffusers' samplers need the schedule first. */
export function notReadyError(className: string, method: string): Error {
  return new Error(
    `${className}.${method} was called before setTimesteps: call scheduler.setTimesteps(numInferenceSteps) ` +
      'once before the sampling loop, then loop over scheduler.timesteps',
  );
}

/**
 * Throws when a config switches on an option this port does not implement, rather than silently
 * computing something diffusers would not. `offValues` maps each key to the value that means "off";
 * where that is `false` or `null`, every value Python treats as false (None, False, 0, "") is off
 * too, since diffusers tests these options with a plain `if`.
 */
export function rejectEnabledOptions(
  className: string,
  config: Record<string, unknown>,
  offValues: Record<string, unknown>,
): void {
  for (const [key, off] of Object.entries(offValues)) {
    const value = config[key];
    const isOff = value === off || ((off === false || off === null) && !value);
    if (!isOff) throw new Error(`${className}: ${key}=${JSON.stringify(value)} is not supported by Kiln`);
  }
}

/** A positive integer number of inference steps no larger than the training schedule. */
export function checkInferenceSteps(className: string, numInferenceSteps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1) {
    throw new Error(
      `${className}.setTimesteps: numInferenceSteps must be a positive integer, got ${numInferenceSteps}`,
    );
  }
  if (numInferenceSteps > numTrainTimesteps) {
    throw new Error(
      `${className}.setTimesteps: numInferenceSteps ${numInferenceSteps} exceeds the model's ` +
        `${numTrainTimesteps} training timesteps`,
    );
  }
}

/**
 * The normals a stochastic step adds: one latent-shaped draw per batch item, item i from
 * `generators[i]` (diffusers' `randn_tensor(shape, generator=[g0, g1, ...])`).
 */
export function drawStepNoise(className: string, options: StepOptions): Float32Array {
  if (!options.generators) {
    throw new Error(`${className}.step adds noise: pass options.generators, one random source per batch item`);
  }
  return randnPerItem(options.generators, options.shape);
}

/** What the model predicts: the noise (epsilon), the clean sample, or the velocity v (arXiv:2202.00512). */
export type PredictionType = 'epsilon' | 'sample' | 'v_prediction';

/** Validates `prediction_type` against what a sampler supports (diffusers raises for the others). */
export function checkPredictionType(
  className: string,
  value: unknown,
  supported: readonly PredictionType[],
): PredictionType {
  if (supported.includes(value as PredictionType)) return value as PredictionType;
  throw new Error(
    `${className}: prediction_type ${JSON.stringify(value)} is not supported; use one of ${supported.join(', ')}`,
  );
}

/** Checks that a step's tensors agree with each other and with `shape`. */
export function checkStepTensors(
  className: string,
  modelOutput: Float32Array,
  sample: Float32Array,
  shape: readonly number[],
): void {
  const numel = shape.reduce((a, b) => a * b, 1);
  if (modelOutput.length !== sample.length || sample.length !== numel) {
    throw new Error(
      `${className}.step: modelOutput (${modelOutput.length}), sample (${sample.length}) ` +
        `and shape [${shape.join(', ')}] disagree`,
    );
  }
}
