/**
 * Where image-to-image and inpainting start denoising, as diffusers' `get_timesteps`:
 * `init_timestep = min(int(steps × strength), steps)`, `t_start = max(steps − init_timestep, 0)`,
 * and the loop runs `timesteps[t_start × order:]` (second-order samplers list two timesteps per
 * step). The scheduler is told its begin index (`set_begin_index`), so its first step and the
 * initial `add_noise` use that schedule entry.
 */
import type { Scheduler } from '../../schedulers/index.js';
import { denoisingStepsFor } from './check-inputs.js';

export function startAtStrength(scheduler: Scheduler, steps: number, strength: number): readonly number[] {
  const tStart = Math.max(steps - denoisingStepsFor(steps, strength), 0);
  const beginIndex = tStart * scheduler.order;
  scheduler.setBeginIndex?.(beginIndex);
  return scheduler.timesteps.slice(beginIndex);
}
