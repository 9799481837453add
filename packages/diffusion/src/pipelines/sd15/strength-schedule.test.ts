import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RenderInputError } from '../../errors.js';
import { createScheduler } from '../../schedulers/index.js';
import { denoisingStepsFor } from './check-inputs.js';
import { startAtStrength } from './strength-schedule.js';

const config = JSON.parse(
  readFileSync(
    fileURLToPath(new URL('../../../../testkit/assets/sd15/scheduler_config.json', import.meta.url)),
    'utf8',
  ),
);

function start(sampler: string, steps: number, strength: number) {
  const scheduler = createScheduler(sampler, config);
  scheduler.setTimesteps(steps);
  return { scheduler, timesteps: startAtStrength(scheduler, steps, strength) };
}

describe('startAtStrength (diffusers get_timesteps)', () => {
  it("DDIM, 10 steps, strength 0.6: the reference case's six timesteps from 501", () => {
    expect(start('DDIM', 10, 0.6).timesteps).toEqual([501, 401, 301, 201, 101, 1]);
  });

  it("truncates steps × strength like Python's int(): 10 × 0.55 → 5 steps", () => {
    expect(start('DDIM', 10, 0.55).timesteps).toHaveLength(5);
    expect(denoisingStepsFor(10, 0.55)).toBe(5);
    expect(denoisingStepsFor(7, 1)).toBe(7);
  });

  it('skips t_start × order entries for second-order samplers (Heun lists two per step)', () => {
    const { scheduler, timesteps } = start('HEUN', 10, 0.6);
    expect(scheduler.order).toBe(2);
    expect(timesteps).toEqual(scheduler.timesteps.slice(8));
    expect(timesteps).toHaveLength(2 * 6 - 1);
  });

  it("PNDM keeps diffusers' N + 1 timestep list (order 1)", () => {
    const { scheduler, timesteps } = start('PNDM', 10, 0.6);
    expect(scheduler.timesteps).toHaveLength(11);
    expect(timesteps).toEqual(scheduler.timesteps.slice(4));
  });

  it('strength 1 runs the whole schedule', () => {
    const { scheduler, timesteps } = start('K_EULER', 10, 1);
    expect(timesteps).toEqual(scheduler.timesteps);
  });

  it('refuses fewer than one denoising step, naming strength', () => {
    expect(() => denoisingStepsFor(4, 0.2)).toThrow(RenderInputError);
    expect(() => denoisingStepsFor(4, 0.2)).toThrow(/steps × strength is 0.8/);
    expect(() => denoisingStepsFor(4, 0)).toThrow(/strength must be > 0/);
  });
});
