/**
 * The DPM-Solver family against diffusers 0.38 (fixtures/schedulers/schedulers.json, computed on
 * PyTorch 1.13 CPU float32): `Class.from_config(sd15_config, **extra_kwargs)` timesteps, sigmas,
 * init_noise_sigma and order for every recorded step count, and the recorded 10-step sampling loop.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import { GROUP2_SCHEDULERS } from './index-group2.js';
import type { Scheduler } from './scheduler.js';

interface StepsRecord {
  timesteps: number[];
  sigmas?: number[];
  init_noise_sigma: number;
  order: number;
  loop?: { final_x: number[]; final_x_f32_hex: string[]; n_model_calls: number; trace: { t: number }[] };
}
interface SamplerRecord {
  class: string;
  extra_kwargs: Record<string, unknown>;
  variants: Record<string, { effective_config: Record<string, unknown>; by_steps: Record<string, StepsRecord> }>;
}
interface Fixture {
  sd15_scheduler_config: Record<string, unknown>;
  x0_randn_seed7: number[];
  samplers: Record<string, SamplerRecord>;
}

const fixture: Fixture = JSON.parse(
  readFileSync(new URL('../../fixtures/schedulers/schedulers.json', import.meta.url), 'utf8'),
);
const sd15 = fixture.sd15_scheduler_config;
const f32 = Math.fround;
const LATENT_SHAPE = [1, 4, 8, 8] as const;

/** |actual - expected| <= rel * |expected| elementwise (exact for zeros). */
function expectRelClose(actual: readonly number[], expected: readonly number[], rel: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const tolerance = rel * Math.abs(expected[i]);
    if (Math.abs(a - expected[i]) > tolerance) {
      throw new Error(`element ${i}: ${a} vs expected ${expected[i]} (tolerance ${tolerance})`);
    }
  });
}

/**
 * The reference README's loop: x = x0 * init_noise_sigma, the analytic stand-in model
 * eps = float32(0.1 * x_in + 0.01 * (float32(t) / 1000)) on the scaled input, and a second
 * generator (seed 7) for the steps' noise.
 */
function runReferenceLoop(scheduler: Scheduler, x0: Float32Array, stepSeed: number) {
  const sigma0 = f32(scheduler.initNoiseSigma);
  let x = Float32Array.from(x0, (v) => f32(v * sigma0));
  const generators = [new TorchCpuGenerator(stepSeed)];
  const tenth = f32(0.1);
  const hundredth = f32(0.01);
  let modelCalls = 0;
  for (const t of scheduler.timesteps) {
    const xIn = scheduler.scaleModelInput(x, t);
    const timeTerm = f32(hundredth * f32(f32(t) / 1000));
    const eps = Float32Array.from(xIn, (v) => f32(f32(tenth * v) + timeTerm));
    modelCalls++;
    x = scheduler.step(eps, t, x, { shape: LATENT_SHAPE, generators });
  }
  return { x, modelCalls };
}

const DETERMINISTIC = ['DPM_SOLVER_MULTISTEP', 'DPM_PLUS_PLUS_2M_KARRAS', 'DPM_SINGLE', 'UNI_PC'] as const;
const ALL_RECORDED = [...DETERMINISTIC, 'DPM_PLUS_PLUS_SDE_KARRAS'] as const;

describe('group 2 samplers vs diffusers 0.38 (sd15_from_config)', () => {
  for (const name of ALL_RECORDED) {
    const record = fixture.samplers[name];
    const variant = record.variants.sd15_from_config;

    it(`${name}: the registry builds ${record.class} with the recorded extra kwargs`, () => {
      const scheduler = GROUP2_SCHEDULERS[name](sd15);
      expect(scheduler.name).toBe(record.class);
      const config = (scheduler as unknown as { config: Record<string, unknown> }).config;
      for (const [key, value] of Object.entries(variant.effective_config)) {
        if (key.startsWith('_') || !(key in config)) continue;
        expect([key, config[key]]).toEqual([key, value === '-Infinity' ? -Infinity : value]);
      }
    });

    for (const [steps, expected] of Object.entries(variant.by_steps)) {
      it(`${name}: ${steps} steps — timesteps, sigmas, init_noise_sigma, order`, () => {
        const scheduler = GROUP2_SCHEDULERS[name](sd15);
        scheduler.setTimesteps(Number(steps));
        expectRelClose(scheduler.timesteps, expected.timesteps, 1e-6);
        expectRelClose(scheduler.sigmas as number[], expected.sigmas as number[], 1e-6);
        expect(Math.abs(scheduler.initNoiseSigma - expected.init_noise_sigma)).toBeLessThanOrEqual(
          1e-6 * expected.init_noise_sigma,
        );
        expect(scheduler.order).toBe(expected.order);
      });
    }
  }

  for (const name of DETERMINISTIC) {
    const variant = fixture.samplers[name].variants.sd15_from_config;
    for (const [steps, expected] of Object.entries(variant.by_steps)) {
      if (!expected.loop) continue;
      const loop = expected.loop;
      it(`${name}: ${steps}-step loop reproduces final_x within 1e-4`, () => {
        const scheduler = GROUP2_SCHEDULERS[name](sd15);
        scheduler.setTimesteps(Number(steps));
        const { x, modelCalls } = runReferenceLoop(scheduler, Float32Array.from(fixture.x0_randn_seed7), 7);
        expect(modelCalls).toBe(loop.n_model_calls);
        let worst = 0;
        x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - loop.final_x[i]))));
        expect(worst).toBeLessThanOrEqual(1e-4);
      });
    }
  }
});
