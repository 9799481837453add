/**
 * `setBeginIndex` (diffusers' `set_begin_index`) for img2img and inpainting, which start the loop
 * part-way through the schedule.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { StepIndex } from './discrete-sigmas.js';
import { createScheduler, SAMPLER_NAMES } from './index.js';

const config = JSON.parse(
  readFileSync(fileURLToPath(new URL('../../../testkit/assets/sd15/scheduler_config.json', import.meta.url)), 'utf8'),
);
const f32 = Math.fround;

describe('StepIndex', () => {
  const timesteps = [999, 500, 500, 1];

  it('without a begin index finds the step by timestep (the second of a repeated one) and add_noise does too', () => {
    const index = new StepIndex();
    expect(index.at(timesteps, 500)).toBe(2);
    index.advance();
    expect(index.forNoise(timesteps, 999)).toBe(0); // diffusers looks the timestep up on every add_noise
  });

  it('with a begin index starts there, and add_noise uses it before the first step and the step index after', () => {
    const index = new StepIndex();
    index.setBegin(1, timesteps.length, 'Test');
    expect(index.forNoise(timesteps, 500)).toBe(1);
    expect(index.at(timesteps, 500)).toBe(1);
    index.advance();
    expect(index.forNoise(timesteps, 1)).toBe(2);
    index.reset();
    expect(index.forNoise(timesteps, 500)).toBe(2);
  });

  it('refuses an index outside the schedule with a teaching error', () => {
    expect(() => new StepIndex().setBegin(4, 4, 'EulerDiscreteScheduler')).toThrow(
      /EulerDiscreteScheduler: begin index 4 is outside the 4 timesteps/,
    );
    expect(() => new StepIndex().setBegin(-1, 4, 'X')).toThrow(RangeError);
  });
});

describe.each([...SAMPLER_NAMES])('%s', (sampler) => {
  it('adds img2img noise at the begin index and starts its steps there', () => {
    const steps = 10;
    const scheduler = createScheduler(sampler, config);
    scheduler.setTimesteps(steps);
    const begin = 4 * scheduler.order; // strength 0.6: t_start = 4
    const t = scheduler.timesteps[begin];
    const original = Float32Array.from({ length: 16 }, (_, i) => (i - 8) / 8);
    const noise = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i + 1));
    const lookup = createScheduler(sampler, config);
    lookup.setTimesteps(steps);
    const expected = lookup.addNoise(original, noise, t); // no repeated timesteps at this point: the lookup agrees
    scheduler.setBeginIndex?.(begin);
    expect(scheduler.addNoise(original, noise, t)).toEqual(expected);
    if (scheduler.setBeginIndex) {
      expect(() => scheduler.setBeginIndex!(scheduler.timesteps.length)).toThrow(RangeError);
    }
  });
});

it("Euler with a begin index scales its first input by that entry's sigma, whatever timestep it is given", () => {
  const scheduler = createScheduler('K_EULER', config);
  scheduler.setTimesteps(10);
  scheduler.setBeginIndex!(6);
  const sigma = scheduler.sigmas![6];
  const out = scheduler.scaleModelInput(Float32Array.of(1), scheduler.timesteps[0]);
  expect(out[0]).toBe(f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1)))));
});
