/**
 * The timestep grids of diffusers' `set_timesteps` for each `timestep_spacing` ("linspace",
 * "leading", "trailing": table 2 of arXiv:2305.08891), with numpy's rounding and dtypes.
 */
import { linspace } from './noise-schedule.js';

const f32 = Math.fround;

export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/** numpy's `round` (`np.round`, `ndarray.round`): halves go to the even neighbour. */
export function numpyRound(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * `np.arange(start, stop, step)` in float64: numpy fills `start + i * delta` where `delta` is the
 * difference of the first two values, `(start + step) - start`, not `step` itself.
 */
export function numpyArange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  if (length === 0) return [];
  const delta = start + step - start;
  const out = [start];
  for (let i = 1; i < length; i++) out.push(start + i * delta);
  return out;
}

/** Rejects a `timestep_spacing` value diffusers would reject. */
export function checkTimestepSpacing(className: string, spacing: unknown): TimestepSpacing {
  if (spacing === 'linspace' || spacing === 'leading' || spacing === 'trailing') return spacing;
  throw new Error(
    `${className}: timestep_spacing ${JSON.stringify(spacing)} is not supported; use "linspace", "leading" or "trailing"`,
  );
}

/**
 * The float64 timesteps, descending, of the k-diffusion style `set_timesteps` before any cast
 * (DPM-SDE keeps them so):
 * - linspace: `np.linspace(0, T - 1, N)[::-1]`
 * - leading: `(np.arange(0, N) * (T // N)).round()[::-1] + steps_offset`
 * - trailing: `np.arange(T, 0, -T / N).round() - 1`
 * Only the linspace grid has fractional values; the other two are whole numbers.
 */
export function float64Timesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  const n = numInferenceSteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, numTrainTimesteps - 1, n).reverse();
    case 'leading': {
      const ratio = Math.floor(numTrainTimesteps / n);
      return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return numpyArange(numTrainTimesteps, 0, -numTrainTimesteps / n).map((t) => numpyRound(t) - 1);
  }
}

/** Integer (int64) timesteps, descending, as DDIM, DDPM and PNDM compute them: the linspace grid is rounded. */
export function integerTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  const grid = float64Timesteps(spacing, numInferenceSteps, numTrainTimesteps, stepsOffset);
  return spacing === 'linspace' ? grid.map(numpyRound) : grid;
}

/**
 * Float32 timesteps, descending, as the k-diffusion samplers (Euler, LMS, Heun, KDPM2) compute them:
 * the float64 grid cast to float32 (`dtype=np.float32`, `.astype(np.float32)`; the whole-number
 * grids are exact in float32, so adding `steps_offset` before or after the cast is the same).
 */
export function float32Timesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  return float64Timesteps(spacing, numInferenceSteps, numTrainTimesteps, stepsOffset).map(f32);
}

/**
 * The integer timesteps of DPM-Solver / UniPC `set_timesteps`, which space N + 1 points and drop
 * the last. `lastTimestep` is the range left after `lambda_min_clipped` (`num_train_timesteps`
 * for UniPC, which does not clip).
 */
export function spacedIntegerTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  lastTimestep: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  const n = numInferenceSteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, lastTimestep - 1, n + 1)
        .map(numpyRound)
        .reverse()
        .slice(0, n);
    case 'leading': {
      const ratio = Math.floor(lastTimestep / (n + 1));
      const ts: number[] = [];
      for (let i = n; i >= 1; i--) ts.push(numpyRound(i * ratio) + stepsOffset);
      return ts;
    }
    case 'trailing':
      return numpyArange(lastTimestep, 0, -numTrainTimesteps / n).map((t) => numpyRound(t) - 1);
    default:
      throw new Error(`timestep_spacing ${String(spacing)} is not supported`);
  }
}
