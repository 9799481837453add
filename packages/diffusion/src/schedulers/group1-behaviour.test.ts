/**
 * Behaviour of the group-1 samplers beyond the recorded reference: forward noising against
 * hand-computed values, errors that teach, per-item noise for batches, the Karras variants,
 * and DDIM at eta = 1 agreeing with DDPM's posterior (a known identity, arXiv:2010.02502 §4.1).
 */
import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import { DDIMScheduler } from './ddim.scheduler.js';
import { DDPMScheduler } from './ddpm.scheduler.js';
import { EulerDiscreteScheduler } from './euler.scheduler.js';
import { GROUP1_SCHEDULERS, type Group1SamplerName } from './index-group1.js';
import type { Scheduler } from './scheduler.js';

/** Stable Diffusion 1.5's scheduler/scheduler_config.json. */
const SD15_CONFIG = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};
const SHAPE = [1, 4, 8, 8];
const NUMEL = 256;

/** ᾱ_t of SD's "scaled_linear" schedule, in float64 straight from its definition. */
function alphaBar(t: number): number {
  const rootStart = Math.sqrt(0.00085);
  const rootEnd = Math.sqrt(0.012);
  let product = 1;
  for (let i = 0; i <= t; i++) {
    const root = rootStart + ((rootEnd - rootStart) * i) / 999;
    product *= 1 - root * root;
  }
  return product;
}

function ramp(length: number, scale: number, offset = 0): Float32Array {
  return Float32Array.from({ length }, (_, i) => Math.fround(scale * Math.sin(i + offset)));
}

function expectClose(actual: Float32Array, expected: ArrayLike<number>, relative: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => {
    expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(relative * Math.max(1, Math.abs(expected[i])));
  });
}

describe('addNoise', () => {
  const original = ramp(NUMEL, 0.8);
  const noise = ramp(NUMEL, 1.3, 0.5);

  it('DDIM/DDPM/PNDM: sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise at an integer timestep', () => {
    const a = alphaBar(999);
    const expected = original.map((x, i) => Math.sqrt(a) * x + Math.sqrt(1 - a) * noise[i]);
    for (const name of ['DDIM', 'DDPM', 'PNDM'] as const) {
      expectClose(GROUP1_SCHEDULERS[name](SD15_CONFIG).addNoise(original, noise, 999), expected, 1e-5);
    }
  });

  it('Euler/LMS/Heun/KDPM2: x0 + sigma(t) noise at a timestep of the schedule', () => {
    const a = alphaBar(999);
    const sigmaMax = Math.sqrt((1 - a) / a); // 14.6146…
    const expected = original.map((x, i) => x + sigmaMax * noise[i]);
    for (const name of ['K_EULER', 'K_EULER_ANCESTRAL', 'KLMS', 'HEUN', 'DPM_2', 'DPM_2_ANCESTRAL'] as const) {
      const scheduler = GROUP1_SCHEDULERS[name](SD15_CONFIG);
      scheduler.setTimesteps(10);
      expect(scheduler.timesteps[0]).toBe(999);
      expectClose(scheduler.addNoise(original, noise, 999), expected, 1e-5);
    }
  });

  it('rejects a timestep that is not on the schedule', () => {
    const scheduler = new EulerDiscreteScheduler(SD15_CONFIG);
    scheduler.setTimesteps(10);
    expect(() => scheduler.addNoise(original, noise, 500)).toThrow(/not one of the scheduler's timesteps/);
  });
});

describe('errors that teach', () => {
  const names = Object.keys(GROUP1_SCHEDULERS) as Group1SamplerName[];
  for (const name of names) {
    it(`${name}: step before setTimesteps says to call setTimesteps`, () => {
      const scheduler = GROUP1_SCHEDULERS[name](SD15_CONFIG);
      const x = new Float32Array(NUMEL);
      expect(() => scheduler.step(x, 999, x, { shape: SHAPE })).toThrow(
        /before setTimesteps: call scheduler\.setTimesteps/,
      );
    });
  }

  it('an ancestral step without generators asks for them', () => {
    const scheduler = GROUP1_SCHEDULERS.K_EULER_ANCESTRAL(SD15_CONFIG);
    scheduler.setTimesteps(5);
    const x = new Float32Array(NUMEL);
    expect(() => scheduler.step(x, scheduler.timesteps[0], x, { shape: SHAPE })).toThrow(/pass options\.generators/);
  });

  it('options Kiln does not implement are refused, not ignored', () => {
    expect(() => new DDIMScheduler(SD15_CONFIG, { thresholding: true })).toThrow(/thresholding=true is not supported/);
    expect(() => new EulerDiscreteScheduler(SD15_CONFIG, { use_beta_sigmas: true })).toThrow(/use_beta_sigmas/);
    expect(() => new DDIMScheduler(SD15_CONFIG, { timestep_spacing: 'uniform' })).toThrow(/timestep_spacing "uniform"/);
  });
});

describe('batches', () => {
  /** Runs a few steps of `name` on a batch, the step noise from one generator per item. */
  function sample(name: Group1SamplerName, items: Float32Array[], seeds: number[]): Float32Array {
    const scheduler = GROUP1_SCHEDULERS[name](SD15_CONFIG);
    scheduler.setTimesteps(4);
    const generators = seeds.map((seed) => new TorchCpuGenerator(seed));
    const shape = [items.length, 4, 8, 8];
    let x: Float32Array = new Float32Array(items.length * NUMEL);
    items.forEach((item, i) => x.set(item, i * NUMEL));
    for (const t of scheduler.timesteps) {
      const eps = scheduler.scaleModelInput(x, t).map((v) => Math.fround(0.1 * v));
      x = scheduler.step(eps, t, x, { shape, generators });
    }
    return x;
  }

  for (const name of ['K_EULER_ANCESTRAL', 'DPM_2_ANCESTRAL', 'DDPM'] as const) {
    it(`${name}: each batch item's noise comes from its own generator`, () => {
      const a = ramp(NUMEL, 3);
      const b = ramp(NUMEL, 2, 1);
      const together = sample(name, [a, b], [11, 12]);
      expect(together.subarray(0, NUMEL)).toEqual(sample(name, [a], [11]));
      expect(together.subarray(NUMEL)).toEqual(sample(name, [b], [12]));
    });
  }
});

describe('Karras variants', () => {
  for (const name of ['DPM_2_KARRAS', 'DPM_2_ANCESTRAL_KARRAS'] as const) {
    it(`${name}: sigmas follow Karras et al. eq. 5 (rho = 7) between the training extremes`, () => {
      const scheduler = GROUP1_SCHEDULERS[name](SD15_CONFIG);
      scheduler.setTimesteps(10);
      // σ_0, σ_1 twice, …: the step sigmas are every other entry after the first.
      const sigmas = scheduler.sigmas ?? [];
      const steps = [sigmas[0], ...Array.from({ length: 9 }, (_, i) => sigmas[1 + 2 * i])];
      const rootMax = Math.sqrt((1 - alphaBar(999)) / alphaBar(999)) ** (1 / 7);
      const rootMin = Math.sqrt((1 - alphaBar(0)) / alphaBar(0)) ** (1 / 7);
      steps.forEach((s, i) => expect(s ** (1 / 7)).toBeCloseTo(rootMax + (i / 9) * (rootMin - rootMax), 5));
      // Step timesteps are whole numbers (diffusers rounds KDPM2's Karras timesteps).
      const stepTimesteps = [scheduler.timesteps[0], ...scheduler.timesteps.filter((_, i) => i % 2 === 0 && i > 0)];
      stepTimesteps.forEach((t) => expect(Number.isInteger(t)).toBe(true));
      expect(scheduler.timesteps.length).toBe(19);
    });
  }
});

describe('DDIM at eta = 1', () => {
  it('takes the DDPM posterior step (same mean, same variance, same noise)', () => {
    const ddim = new DDIMScheduler(SD15_CONFIG);
    const ddpm = new DDPMScheduler(SD15_CONFIG);
    ddim.setTimesteps(10);
    ddpm.setTimesteps(10);
    const x = ramp(NUMEL, 1);
    const eps = ramp(NUMEL, 0.9, 2);
    const t = ddim.timesteps[3];
    const viaDdim = ddim.step(eps, t, x, { shape: SHAPE, eta: 1, generators: [new TorchCpuGenerator(5)] });
    const viaDdpm = ddpm.step(eps, t, x, { shape: SHAPE, generators: [new TorchCpuGenerator(5)] });
    expectClose(viaDdim, viaDdpm, 1e-5);
  });

  it('eta = 0 draws nothing from the generator', () => {
    const ddim = new DDIMScheduler(SD15_CONFIG);
    ddim.setTimesteps(10);
    const generator = new TorchCpuGenerator(5);
    const x = ramp(NUMEL, 1);
    ddim.step(x, ddim.timesteps[0], x, { shape: SHAPE, eta: 0, generators: [generator] });
    expect(generator.randn([3])).toEqual(new TorchCpuGenerator(5).randn([3]));
  });
});

describe('the scheduler interface', () => {
  it('every group-1 factory builds a Scheduler whose step does not mutate its inputs', () => {
    for (const factory of Object.values(GROUP1_SCHEDULERS)) {
      const scheduler: Scheduler = factory(SD15_CONFIG);
      scheduler.setTimesteps(3);
      const x = ramp(NUMEL, 2);
      const copy = Float32Array.from(x);
      const t = scheduler.timesteps[0];
      scheduler.step(scheduler.scaleModelInput(x, t), t, x, { shape: SHAPE, generators: [new TorchCpuGenerator(1)] });
      expect(x).toEqual(copy);
    }
  });

  it("k-diffusion samplers report diffusers' init_noise_sigma before setTimesteps too (the largest training sigma)", () => {
    for (const name of ['K_EULER', 'K_EULER_ANCESTRAL', 'KLMS', 'HEUN', 'DPM_2', 'DPM_2_ANCESTRAL'] as const) {
      const scheduler = GROUP1_SCHEDULERS[name](SD15_CONFIG);
      const before = scheduler.initNoiseSigma;
      scheduler.setTimesteps(10);
      expect(before).toBe(scheduler.initNoiseSigma);
      expect(before).toBeCloseTo(Math.sqrt((1 - alphaBar(999)) / alphaBar(999)), 4);
    }
  });
});
