/**
 * The DPM-Solver family against diffusers 0.38 (fixtures/schedulers/schedulers.json, computed on
 * PyTorch 1.13 CPU float32): `Class.from_config(sd15_config, **extra_kwargs)` timesteps, sigmas,
 * init_noise_sigma and order for every recorded step count, and the recorded sampling loops.
 * Variant `leading` is the same with `timestep_spacing="leading"` forced into the config.
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
  loop?: { final_x: number[]; n_model_calls: number };
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
const f32 = Math.fround;
const LATENT_SHAPE = [1, 4, 8, 8] as const;
const VARIANT_CONFIGS: Record<string, Record<string, unknown>> = {
  sd15_from_config: fixture.sd15_scheduler_config,
  leading: { ...fixture.sd15_scheduler_config, timestep_spacing: 'leading' },
};

type RecordedName =
  'DPM_SOLVER_MULTISTEP' | 'DPM_PLUS_PLUS_2M_KARRAS' | 'DPM_SINGLE' | 'UNI_PC' | 'DPM_PLUS_PLUS_SDE_KARRAS';
const DETERMINISTIC: RecordedName[] = ['DPM_SOLVER_MULTISTEP', 'DPM_PLUS_PLUS_2M_KARRAS', 'DPM_SINGLE', 'UNI_PC'];
const ALL_RECORDED: RecordedName[] = [...DETERMINISTIC, 'DPM_PLUS_PLUS_SDE_KARRAS'];

/** |actual - expected| <= rel * |expected| elementwise (exact for zeros). */
function expectRelClose(actual: readonly number[], expected: readonly number[], rel: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const tolerance = rel * Math.abs(expected[i]);
    if (!(Math.abs(a - expected[i]) <= tolerance)) {
      throw new Error(`element ${i}: ${a} vs expected ${expected[i]} (tolerance ${tolerance})`);
    }
  });
}

/**
 * The reference README's loop: x = x0 * init_noise_sigma, the analytic stand-in model
 * eps = float32(0.1 * x_in + 0.01 * (float32(t) / 1000)) on the scaled input, and a second
 * generator for the steps' noise (seed 7 in the recording).
 */
function runReferenceLoop(scheduler: Scheduler, x0: Float32Array, stepSeed: number) {
  const sigma0 = f32(scheduler.initNoiseSigma);
  let x: Float32Array = Float32Array.from(x0, (v) => f32(v * sigma0));
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

describe('group 2 samplers vs diffusers 0.38', () => {
  for (const name of ALL_RECORDED) {
    const record = fixture.samplers[name];

    it(`${name}: builds ${record.class} with the effective config of from_config + extra kwargs`, () => {
      const scheduler = GROUP2_SCHEDULERS[name](VARIANT_CONFIGS.sd15_from_config);
      expect(scheduler.name).toBe(record.class);
      const config = (scheduler as unknown as { config: Record<string, unknown> }).config;
      const effective = record.variants.sd15_from_config.effective_config;
      const classKeys = Object.keys(effective).filter((key) => !key.startsWith('_') && key in config);
      // Every recorded key of the class exists in ours (the 3 SD1.5 leftovers are not class keys).
      expect(classKeys.length).toBeGreaterThan(8);
      for (const key of classKeys) {
        const expected = effective[key] === '-Infinity' ? -Infinity : effective[key];
        expect([key, config[key]]).toEqual([key, expected]);
      }
    });

    for (const [variantName, variant] of Object.entries(record.variants)) {
      for (const [steps, expected] of Object.entries(variant.by_steps)) {
        it(`${name} (${variantName}): ${steps} steps — timesteps, sigmas, init_noise_sigma, order`, () => {
          const scheduler = GROUP2_SCHEDULERS[name](VARIANT_CONFIGS[variantName]);
          scheduler.setTimesteps(Number(steps));
          expectRelClose(scheduler.timesteps, expected.timesteps, 1e-6);
          expectRelClose(scheduler.sigmas as number[], expected.sigmas as number[], 1e-6);
          expectRelClose([scheduler.initNoiseSigma], [expected.init_noise_sigma], 1e-6);
          expect(scheduler.order).toBe(expected.order);
        });
      }
    }
  }

  for (const name of DETERMINISTIC) {
    for (const [variantName, variant] of Object.entries(fixture.samplers[name].variants)) {
      for (const [steps, expected] of Object.entries(variant.by_steps)) {
        const loop = expected.loop;
        if (!loop) continue;
        it(`${name} (${variantName}): the ${steps}-step loop reproduces final_x within 1e-4`, () => {
          const scheduler = GROUP2_SCHEDULERS[name](VARIANT_CONFIGS[variantName]);
          scheduler.setTimesteps(Number(steps));
          const { x, modelCalls } = runReferenceLoop(scheduler, Float32Array.from(fixture.x0_randn_seed7), 7);
          expect(modelCalls).toBe(loop.n_model_calls);
          let worst = 0;
          x.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - loop.final_x[i]))));
          expect(worst).toBeLessThanOrEqual(1e-4);
        });
      }
    }
  }

  /**
   * diffusers' DPM_PLUS_PLUS_SDE_KARRAS noise comes from torchsde (entropy from the global torch
   * RNG), so its loop cannot be replayed. But the stand-in model is elementwise linear and every
   * scheduler coefficient is a scalar, so for ANY correct Brownian noise each element ends as
   * final_i = a·x0_i + b + r_i with the same a, b and iid r_i ~ N(0, V). We estimate a, b, V from 32
   * of our own runs (8192 points: a, b and V are known to ~1 %), then require the reference's 256
   * residuals to look like draws from N(0, V): their mean within 4 standard errors (sqrt(V/256)) of 0
   * and their mean square within 4 standard deviations (sqrt(2/256) ≈ 0.088) of V. A 4σ band keeps the
   * chance that a correct implementation fails at about 1e-4 while a wrong noise scale, a missing
   * noise term or a wrong deterministic update moves these statistics far outside it.
   */
  for (const [variantName, variant] of Object.entries(fixture.samplers.DPM_PLUS_PLUS_SDE_KARRAS.variants)) {
    for (const [steps, expected] of Object.entries(variant.by_steps)) {
      const loop = expected.loop;
      if (!loop) continue;
      it(`DPM_PLUS_PLUS_SDE_KARRAS (${variantName}): the ${steps}-step loop is a typical draw of ours`, () => {
        const x0 = Float32Array.from(fixture.x0_randn_seed7);
        const runs: Float32Array[] = [];
        for (let seed = 0; seed < 32; seed++) {
          const scheduler = GROUP2_SCHEDULERS.DPM_PLUS_PLUS_SDE_KARRAS(VARIANT_CONFIGS[variantName]);
          scheduler.setTimesteps(Number(steps));
          const { x, modelCalls } = runReferenceLoop(scheduler, x0, 1000 + seed);
          expect(modelCalls).toBe(loop.n_model_calls);
          runs.push(x);
        }
        const { a, b, variance } = fitLinearWithNoise(x0, runs);
        const residuals = loop.final_x.map((v, i) => v - a * x0[i] - b);
        const n = residuals.length;
        const meanZ = residuals.reduce((s, r) => s + r, 0) / n / Math.sqrt(variance / n);
        const meanSquareRatio = residuals.reduce((s, r) => s + r * r, 0) / n / variance;
        expect(Math.abs(meanZ)).toBeLessThan(4);
        expect(Math.abs(meanSquareRatio - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
      });
    }
  }
});

/** Least squares y = a·x + b over all runs (x shared), and the residual variance. */
function fitLinearWithNoise(x: Float32Array, runs: Float32Array[]) {
  let sx = 0;
  let sy = 0;
  let sxx = 0;
  let sxy = 0;
  let n = 0;
  for (const y of runs) {
    y.forEach((v, i) => {
      sx += x[i];
      sy += v;
      sxx += x[i] * x[i];
      sxy += x[i] * v;
      n++;
    });
  }
  const a = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  const b = (sy - a * sx) / n;
  let rss = 0;
  for (const y of runs) y.forEach((v, i) => (rss += (v - a * x[i] - b) ** 2));
  return { a, b, variance: rss / (n - 2) };
}
