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
 * Integer (int64) timesteps, descending, as DDIM and DDPM compute them:
 * - linspace: `np.linspace(0, T - 1, N).round()[::-1]`
 * - leading: `(np.arange(0, N) * (T // N)).round()[::-1] + steps_offset`
 * - trailing: `np.round(np.arange(T, 0, -T / N)) - 1`
 */
export function integerTimesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  const n = numInferenceSteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, numTrainTimesteps - 1, n).map(numpyRound).reverse();
    case 'leading': {
      const ratio = Math.floor(numTrainTimesteps / n);
      return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return numpyArange(numTrainTimesteps, 0, -numTrainTimesteps / n).map((t) => numpyRound(t) - 1);
  }
}

/**
 * Float32 timesteps, descending, as the k-diffusion samplers (Euler, LMS, Heun, KDPM2) compute them:
 * - linspace: `np.linspace(0, T - 1, N, dtype=np.float32)[::-1]`
 * - leading: `(np.arange(0, N) * (T // N)).round()[::-1].astype(np.float32) + steps_offset`
 * - trailing: `np.arange(T, 0, -T / N).round().astype(np.float32) - 1`
 */
export function float32Timesteps(
  spacing: TimestepSpacing,
  numInferenceSteps: number,
  numTrainTimesteps: number,
  stepsOffset: number,
): number[] {
  const n = numInferenceSteps;
  switch (spacing) {
    case 'linspace':
      return linspace(0, numTrainTimesteps - 1, n).map(f32).reverse();
    case 'leading': {
      const ratio = Math.floor(numTrainTimesteps / n);
      // float32 array += python int: the offset is added in float32.
      return Array.from({ length: n }, (_, i) => f32(f32((n - 1 - i) * ratio) + stepsOffset));
    }
    case 'trailing':
      return numpyArange(numTrainTimesteps, 0, -numTrainTimesteps / n).map((t) => f32(f32(numpyRound(t)) - 1));
  }
}
