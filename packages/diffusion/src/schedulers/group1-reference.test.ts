/**
 * The DDIM / DDPM / PNDM / LMS / Euler / Heun / KDPM2 samplers against diffusers 0.38
 * (fixtures/schedulers/schedulers.json, recorded on PyTorch 1.13 CPU float32):
 * `Class.from_config(sd15_config, **extra_kwargs)` — the effective config, timesteps, sigmas,
 * init_noise_sigma and order for every recorded step count — and the recorded sampling loops.
 * Variant `leading` is the same with `timestep_spacing="leading"` forced into the config.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import { GROUP1_SCHEDULERS, type Group1SamplerName } from './index-group1.js';
import type { Scheduler } from './scheduler.js';

interface StepCountRecord {
  timesteps: number[];
  sigmas: number[] | null;
  init_noise_sigma: number;
  order: number;
  loop?: { final_x: number[]; n_model_calls: number; step_kwargs_passed: string[] };
}
interface VariantRecord {
  effective_config: Record<string, unknown>;
  by_steps: Record<string, StepCountRecord>;
}
interface SamplerRecord {
  class: string;
  extra_kwargs: Record<string, unknown>;
  variants: Record<string, VariantRecord>;
}
interface SchedulerFixture {
  sd15_scheduler_config: Record<string, unknown>;
  x0_randn_seed7: number[];
  samplers: Record<string, SamplerRecord>;
}

const fixture: SchedulerFixture = JSON.parse(
  readFileSync(new URL('../../fixtures/schedulers/schedulers.json', import.meta.url), 'utf8'),
);

const f32 = Math.fround;
const LATENT_SHAPE = [1, 4, 8, 8];
const RECORDED: Group1SamplerName[] = [
  'DDIM',
  'DDPM',
  'PNDM',
  'K_EULER',
  'K_EULER_ANCESTRAL',
  'KLMS',
  'HEUN',
  'DPM_2',
  'DPM_2_ANCESTRAL',
];
const VARIANT_CONFIGS: Record<string, Record<string, unknown>> = {
  sd15_from_config: fixture.sd15_scheduler_config,
  leading: { ...fixture.sd15_scheduler_config, timestep_spacing: 'leading' },
};

/** Fails with the first element outside `|actual - expected| <= relative * |expected|`. */
function expectRelativelyClose(actual: readonly number[], expected: readonly number[], relative: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((value, i) => {
    const tolerance = relative * Math.abs(expected[i]);
    if (!(Math.abs(value - expected[i]) <= tolerance)) {
      throw new Error(`element ${i}: got ${value}, expected ${expected[i]} ± ${tolerance}`);
    }
  });
}

/**
 * The README's loop: x = randn(seed 7) * init_noise_sigma; the stand-in model
 * eps = float32(0.1 * x_in + 0.01 * (float32(t) / 1000)) on the scaled input; the step noise from a
 * second generator seeded 7 after x was drawn; eta = 0 where the class takes it.
 */
function runRecordedLoop(scheduler: Scheduler, steps: number): { x: Float32Array; modelCalls: number } {
  scheduler.setTimesteps(steps);
  const initSigma = f32(scheduler.initNoiseSigma);
  let x: Float32Array = Float32Array.from(fixture.x0_randn_seed7, (v) => f32(v * initSigma));
  const generators = [new TorchCpuGenerator(7)];
  const inputWeight = f32(0.1);
  const timeWeight = f32(0.01);
  let modelCalls = 0;
  for (const t of scheduler.timesteps) {
    const scaled = scheduler.scaleModelInput(x, t);
    const timeTerm = f32(timeWeight * f32(f32(t) / 1000));
    const eps = Float32Array.from(scaled, (v) => f32(f32(inputWeight * v) + timeTerm));
    x = scheduler.step(eps, t, x, { shape: LATENT_SHAPE, generators, eta: 0 });
    modelCalls++;
  }
  return { x, modelCalls };
}

describe('group-1 samplers reproduce diffusers 0.38', () => {
  for (const name of RECORDED) {
    const record = fixture.samplers[name];
    describe(`${name} (${record.class})`, () => {
      it('has no extra from_config arguments in the reference', () => {
        expect(record.extra_kwargs).toEqual({});
      });

      for (const [variant, config] of Object.entries(VARIANT_CONFIGS)) {
        const variantRecord = record.variants[variant];

        it(`${variant}: from_config gives diffusers' effective config`, () => {
          const scheduler = GROUP1_SCHEDULERS[name](config) as Scheduler & { config: Record<string, unknown> };
          expect(scheduler.name).toBe(record.class);
          const ours = scheduler.config;
          for (const [key, value] of Object.entries(variantRecord.effective_config)) {
            if (key.startsWith('_') || !(key in ours)) continue;
            expect({ key, value: ours[key] }).toEqual({ key, value });
          }
          // Every key Kiln reads is one diffusers' class has.
          for (const key of Object.keys(ours)) expect(variantRecord.effective_config).toHaveProperty(key);
        });

        for (const [steps, expected] of Object.entries(variantRecord.by_steps)) {
          it(`${variant}, ${steps} steps: timesteps, sigmas, init_noise_sigma, order`, () => {
            const scheduler = GROUP1_SCHEDULERS[name](config);
            scheduler.setTimesteps(Number(steps));
            expectRelativelyClose(scheduler.timesteps, expected.timesteps, 1e-6);
            if (expected.sigmas === null) expect(scheduler.sigmas).toBeUndefined();
            else expectRelativelyClose(scheduler.sigmas ?? [], expected.sigmas, 1e-6);
            expectRelativelyClose([scheduler.initNoiseSigma], [expected.init_noise_sigma], 1e-6);
            expect(scheduler.order).toBe(expected.order);
          });

          const loop = expected.loop;
          if (loop) {
            it(`${variant}, ${steps} steps: the recorded sampling loop ends within 1e-4`, () => {
              const { x, modelCalls } = runRecordedLoop(GROUP1_SCHEDULERS[name](config), Number(steps));
              expect(modelCalls).toBe(loop.n_model_calls);
              let worst = 0;
              x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - loop.final_x[i]))));
              expect(worst).toBeLessThanOrEqual(1e-4);
            });
          }
        }
      }
    });
  }
});
