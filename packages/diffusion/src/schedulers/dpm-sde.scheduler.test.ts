/**
 * The SDE samplers whose noise diffusers draws in ways Kiln cannot replay (torchsde for
 * DPM_PLUS_PLUS_SDE_KARRAS) or that the reference does not record (DPM_PLUS_PLUS_2M_SDE[_KARRAS]):
 * their deterministic schedules against the reference, and reproducibility per seed and per batch item.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import { DPMSolverSDEScheduler } from './dpm-sde.scheduler.js';
import { GROUP2_SCHEDULERS, type Group2SamplerName } from './index-group2.js';
import type { Scheduler } from './scheduler.js';

const fixture = JSON.parse(readFileSync(new URL('../../fixtures/schedulers/schedulers.json', import.meta.url), 'utf8'));
const sd15: Record<string, unknown> = fixture.sd15_scheduler_config;
const f32 = Math.fround;
const ITEM_SHAPE = [4, 8, 8];
const ITEM_SIZE = 256;

/** The reference README's stand-in model loop over a batch, one generator per item. */
function sample(scheduler: Scheduler, steps: number, x0: Float32Array, seeds: readonly number[]): Float32Array {
  scheduler.setTimesteps(steps);
  const shape = [seeds.length, ...ITEM_SHAPE];
  const generators = seeds.map((s) => new TorchCpuGenerator(s));
  let x: Float32Array = Float32Array.from(x0, (v) => f32(v * f32(scheduler.initNoiseSigma)));
  for (const t of scheduler.timesteps) {
    const timeTerm = f32(f32(0.01) * f32(f32(t) / 1000));
    const eps = Float32Array.from(scheduler.scaleModelInput(x, t), (v) => f32(f32(f32(0.1) * v) + timeTerm));
    x = scheduler.step(eps, t, x, { shape, generators });
  }
  return x;
}

const x0 = Float32Array.from(fixture.x0_randn_seed7 as number[]);
const otherX0 = new TorchCpuGenerator(3).randn([1, ...ITEM_SHAPE]);
const SDE_SAMPLERS: Group2SamplerName[] = [
  'DPM_PLUS_PLUS_2M_SDE',
  'DPM_PLUS_PLUS_2M_SDE_KARRAS',
  'DPM_PLUS_PLUS_SDE_KARRAS',
];

describe('2M SDE samplers: deterministic parts equal their ODE siblings in the reference', () => {
  const pairs: [Group2SamplerName, string][] = [
    ['DPM_PLUS_PLUS_2M_SDE', 'DPM_SOLVER_MULTISTEP'],
    ['DPM_PLUS_PLUS_2M_SDE_KARRAS', 'DPM_PLUS_PLUS_2M_KARRAS'],
  ];
  for (const [name, sibling] of pairs) {
    for (const [steps, expected] of Object.entries(
      fixture.samplers[sibling].variants.sd15_from_config.by_steps as Record<
        string,
        { timesteps: number[]; sigmas: number[] }
      >,
    )) {
      it(`${name}: ${steps}-step timesteps and sigmas are ${sibling}'s`, () => {
        const scheduler = GROUP2_SCHEDULERS[name](sd15);
        scheduler.setTimesteps(Number(steps));
        expect(scheduler.timesteps).toEqual(expected.timesteps);
        scheduler.sigmas?.forEach((s, i) =>
          expect(Math.abs(s - expected.sigmas[i])).toBeLessThanOrEqual(1e-6 * expected.sigmas[i]),
        );
        expect(scheduler.sigmas?.length).toBe(expected.sigmas.length);
      });
    }
  }

  it('DPM_PLUS_PLUS_2M_SDE really adds noise: its result differs from the ODE sampler', () => {
    const ode = sample(GROUP2_SCHEDULERS.DPM_SOLVER_MULTISTEP(sd15), 10, x0, [7]);
    const sde = sample(GROUP2_SCHEDULERS.DPM_PLUS_PLUS_2M_SDE(sd15), 10, x0, [7]);
    expect(sde).not.toEqual(ode);
  });
});

describe.each(SDE_SAMPLERS)('%s reproducibility', (name) => {
  it('gives the same result for the same seed and a different one for another seed', () => {
    const first = sample(GROUP2_SCHEDULERS[name](sd15), 10, x0, [7]);
    const again = sample(GROUP2_SCHEDULERS[name](sd15), 10, x0, [7]);
    const other = sample(GROUP2_SCHEDULERS[name](sd15), 10, x0, [8]);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(first.every(Number.isFinite)).toBe(true);
  });

  it('is batch-independent: each item equals the same seed sampled alone', () => {
    const batchX0 = new Float32Array(2 * ITEM_SIZE);
    batchX0.set(x0, 0);
    batchX0.set(otherX0, ITEM_SIZE);
    const batch = sample(GROUP2_SCHEDULERS[name](sd15), 6, batchX0, [7, 8]);
    expect(batch.subarray(0, ITEM_SIZE)).toEqual(sample(GROUP2_SCHEDULERS[name](sd15), 6, x0, [7]));
    expect(batch.subarray(ITEM_SIZE)).toEqual(sample(GROUP2_SCHEDULERS[name](sd15), 6, otherX0, [8]));
  });
});

describe('DPMSolverSDEScheduler noise seeding', () => {
  it('uses noise_sampler_seed when configured, whatever the generators', () => {
    const make = () => new DPMSolverSDEScheduler(sd15, { use_karras_sigmas: true, noise_sampler_seed: 1234 });
    expect(sample(make(), 5, x0, [7])).toEqual(sample(make(), 5, x0, [8]));
    const unseeded = new DPMSolverSDEScheduler(sd15, { use_karras_sigmas: true });
    expect(sample(make(), 5, x0, [7])).not.toEqual(sample(unseeded, 5, x0, [7]));
  });

  it('refuses to draw unseeded noise', () => {
    const scheduler = new DPMSolverSDEScheduler(sd15, { use_karras_sigmas: true });
    scheduler.setTimesteps(4);
    const t = scheduler.timesteps[0];
    const x = scheduler.scaleModelInput(x0, t);
    expect(() => scheduler.step(x, t, x0, { shape: [1, ...ITEM_SHAPE] })).toThrow(/generator/);
  });
});
