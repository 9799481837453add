/**
 * FlowMatchEulerDiscreteScheduler against diffusers 0.38 (fixtures/schedulers/flowmatch.json,
 * recorded on PyTorch 1.13 CPU float32 with SD3 Medium's config, shift 3.0): timesteps and sigmas
 * bit for bit, a full sampling loop with an analytic velocity model, and img2img's start
 * (`get_timesteps` + `set_begin_index` + `scale_noise`).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FlowMatchEulerDiscreteScheduler } from './flow-match-euler.scheduler.js';

interface Img2ImgRecord {
  t_start: number;
  first_t: number;
  sigma_used: number;
  timesteps_looped: number[];
  output: number[];
}
const fixture = JSON.parse(readFileSync(new URL('../../fixtures/schedulers/flowmatch.json', import.meta.url), 'utf8'));
const variant = fixture.variants['shift_3.0'];
const SHAPE = fixture.inputs.shape as number[];
const f32 = Math.fround;

function scheduler(steps: number): FlowMatchEulerDiscreteScheduler {
  const s = new FlowMatchEulerDiscreteScheduler(variant.config_kwargs);
  s.setTimesteps(steps);
  return s;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('FlowMatchEulerDiscreteScheduler (shift 3.0) against diffusers', () => {
  it('sigma_min and sigma_max of the shifted training schedule', () => {
    const s = new FlowMatchEulerDiscreteScheduler(variant.config_kwargs);
    expect(s.sigmaMax).toBe(variant.sigma_max);
    expect(s.sigmaMin).toBe(variant.sigma_min);
  });

  it.each(fixture.steps as number[])('%i steps: timesteps and sigmas bit for bit', (steps) => {
    const expected = variant.set_timesteps[String(steps)];
    const s = scheduler(steps);
    expect(s.timesteps).toEqual(expected.timesteps);
    expect(s.sigmas).toEqual(expected.sigmas);
    expect(s.timesteps.every((t) => f32(t) === t)).toBe(true);
  });

  it('SD3 Medium at 8 steps: the last timestep is 8.9286 (shifted twice), not sigma_min × 1000', () => {
    const s = scheduler(8);
    expect(s.timesteps.at(-1)).toBeCloseTo(8.928571, 5);
    expect(s.sigmas.at(-1)).toBe(0);
    expect(s.initNoiseSigma).toBe(1);
  });

  it.each(fixture.loop_steps as number[])(
    "a %i-step loop with v = 0.1·x + 0.01·t/1000 ends at diffusers' x",
    (steps) => {
      const record = variant.loops[String(steps)];
      const s = scheduler(steps);
      let x = Float32Array.from(fixture.inputs.x0_randn_seed7);
      for (const t of s.timesteps) {
        const v = x.map((xi) => f32(f32(0.1 * xi) + f32(0.01 * f32(t / 1000))));
        x = s.step(v, t, x, { shape: SHAPE });
      }
      expect(maxAbsDiff(x, record.final_x)).toBeLessThan(1e-4);
      expect(s.timesteps.length).toBe(record.n_model_calls);
    },
  );

  it.each(Object.keys(variant.img2img))(
    'img2img at strength %s: begin index, timesteps and scale_noise',
    (strength) => {
      const record: Img2ImgRecord = variant.img2img[strength];
      const steps = fixture.img2img_steps as number;
      const s = scheduler(steps);
      // StableDiffusion3Img2ImgPipeline.get_timesteps
      const tStart = Math.trunc(Math.max(steps - Math.min(steps * Number(strength), steps), 0));
      expect(tStart).toBe(record.t_start);
      s.setBeginIndex(tStart);
      const timesteps = s.timesteps.slice(tStart);
      expect(timesteps).toEqual(record.timesteps_looped);
      expect(s.sigmas[tStart]).toBe(record.sigma_used);
      const out = s.scaleNoise(
        Float32Array.from(fixture.inputs.x_init_randn_seed11),
        Float32Array.from(fixture.inputs.noise_randn_seed12),
        timesteps[0],
      );
      expect(maxAbsDiff(out, record.output)).toBeLessThan(1e-6);
    },
  );

  it("without a begin index, scale_noise takes the sigma of the timestep's place", () => {
    const s = scheduler(4);
    const sample = new Float32Array([1, 1]);
    const noise = new Float32Array([0, 2]);
    const out = s.scaleNoise(sample, noise, s.timesteps[1]);
    const sigma = s.sigmas[1];
    expect(Array.from(out)).toEqual([f32(1 - sigma), f32(f32(2 * sigma) + f32(1 - sigma))]);
  });

  it('refuses options it does not implement and use before setTimesteps', () => {
    expect(() => new FlowMatchEulerDiscreteScheduler({ use_dynamic_shifting: true })).toThrow(/use_dynamic_shifting/);
    expect(() => new FlowMatchEulerDiscreteScheduler({ stochastic_sampling: true })).toThrow(/stochastic_sampling/);
    const s = new FlowMatchEulerDiscreteScheduler({ shift: 3 });
    expect(() => s.step(new Float32Array(1), 1000, new Float32Array(1), { shape: [1] })).toThrow(/setTimesteps/);
    expect(() => s.setTimesteps(0)).toThrow(/positive integer/);
  });
});
