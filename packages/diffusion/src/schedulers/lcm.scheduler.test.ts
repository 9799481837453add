/**
 * LCMScheduler against values computed from diffusers 0.38's formulas (reference/lcm_reference.py,
 * numpy float32 with torch's dtype rules): timesteps, the boundary-condition scalings, and sampling
 * loops whose step noise is replayed from the reference; then what the reference cannot show:
 * noise from each image's own generator, none after the last step, and errors that teach.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { RandomSource } from '../rng/random-source.js';
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import { createScheduler, SAMPLER_NAMES } from './index.js';
import { LCMScheduler } from './lcm.scheduler.js';

interface Loop {
  steps: number;
  begin_index: number;
  noise: number[][];
  per_step: { timestep: number; denoised: number[]; prev_sample: number[] }[];
  final_x: number[];
}
interface Reference {
  sd15_scheduler_config: Record<string, unknown>;
  shape: number[];
  x0: number[];
  alphas_cumprod_at: Record<string, number>;
  scalings_at: Record<string, [number, number]>;
  by_steps: Record<string, { timesteps: number[]; c_skip: number[]; c_out: number[] }>;
  original_inference_steps_100: Record<string, number[]>;
  loops: Loop[];
}

const ref: Reference = JSON.parse(readFileSync(new URL('./reference/lcm-reference.json', import.meta.url), 'utf8'));
const config = ref.sd15_scheduler_config;
const f32 = Math.fround;

/** Hands out recorded noise draws in order and fails on a draw the reference did not make. */
class ReplaySource implements RandomSource {
  drawn = 0;
  constructor(private readonly draws: number[][]) {}
  randn(shape: readonly number[]): Float32Array {
    const next = this.draws[this.drawn++];
    if (!next) throw new Error(`draw ${this.drawn} was not made by the reference`);
    expect(shape.reduce((a, b) => a * b, 1)).toBe(next.length);
    return Float32Array.from(next);
  }
}

function expectClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const bound = tolerance * Math.max(1, Math.abs(expected[i]));
    if (!(Math.abs(actual[i] - expected[i]) <= bound)) {
      throw new Error(`element ${i}: ${actual[i]} vs expected ${expected[i]} (tolerance ${bound})`);
    }
  }
}

/** The reference's stand-in model: eps = float32(0.1 * x + 0.01 * (float32(t) / 1000)). */
function standInModel(x: Float32Array, t: number): Float32Array {
  const timeTerm = f32(f32(0.01) * f32(f32(t) / 1000));
  return Float32Array.from(x, (v) => f32(f32(f32(0.1) * v) + timeTerm));
}

describe('LCMScheduler vs diffusers 0.38 formulas', () => {
  it('is built by the LCM sampler name with the class defaults under the model config', () => {
    expect(SAMPLER_NAMES).toContain('LCM');
    const scheduler = createScheduler('LCM', config) as LCMScheduler;
    expect(scheduler).toBeInstanceOf(LCMScheduler);
    expect(scheduler.config).toMatchObject({
      original_inference_steps: 50,
      timestep_scaling: 10,
      set_alpha_to_one: false,
    });
    expect(scheduler.initNoiseSigma).toBe(1);
    expect(scheduler.order).toBe(1);
  });

  it('ᾱ_t of the model schedule', () => {
    const scheduler = new LCMScheduler(config);
    for (const [t, expected] of Object.entries(ref.alphas_cumprod_at)) {
      // Forward-noising 1 with zero noise gives sqrt(ᾱ_t): a view of the table add_noise reads.
      const out = scheduler.addNoise(Float32Array.of(1), Float32Array.of(0), Number(t));
      expect(Math.abs(out[0] ** 2 - expected)).toBeLessThanOrEqual(1e-6 * expected);
    }
  });

  it.each(Object.entries(ref.by_steps))('%s steps: timesteps, c_skip and c_out', (steps, expected) => {
    const scheduler = new LCMScheduler(config);
    scheduler.setTimesteps(Number(steps));
    expect(scheduler.timesteps).toEqual(expected.timesteps);
    expected.timesteps.forEach((t, i) => {
      expect(scheduler.boundaryScalings(t)).toEqual({ cSkip: expected.c_skip[i], cOut: expected.c_out[i] });
    });
  });

  it('c_skip and c_out near the boundary t = 0, where the consistency function is the identity', () => {
    const scheduler = new LCMScheduler(config);
    for (const [t, [cSkip, cOut]] of Object.entries(ref.scalings_at)) {
      expect(scheduler.boundaryScalings(Number(t))).toEqual({ cSkip, cOut });
    }
    expect(scheduler.boundaryScalings(0)).toEqual({ cSkip: 1, cOut: 0 });
  });

  it.each(Object.entries(ref.original_inference_steps_100))(
    'original_inference_steps 100, %s steps',
    (steps, timesteps) => {
      const scheduler = new LCMScheduler(config, { original_inference_steps: 100 });
      scheduler.setTimesteps(Number(steps));
      expect(scheduler.timesteps).toEqual(timesteps);
    },
  );

  it.each(ref.loops.map((loop) => [`${loop.steps} steps from index ${loop.begin_index}`, loop] as const))(
    'the loop of %s reproduces every step within 1e-6 and draws exactly the reference noise',
    (_, loop) => {
      const scheduler = new LCMScheduler(config);
      scheduler.setTimesteps(loop.steps);
      if (loop.begin_index > 0) scheduler.setBeginIndex(loop.begin_index);
      const source = new ReplaySource(loop.noise);
      let x = Float32Array.from(ref.x0);
      const timesteps = scheduler.timesteps.slice(loop.begin_index);
      expect(timesteps).toEqual(loop.per_step.map((s) => s.timestep));
      timesteps.forEach((t, i) => {
        x = scheduler.step(standInModel(scheduler.scaleModelInput(x, t), t), t, x, {
          shape: ref.shape,
          generators: [source],
        });
        expectClose(x, loop.per_step[i].prev_sample, 1e-6);
      });
      expect(source.drawn).toBe(loop.noise.length);
      expect(source.drawn).toBe(timesteps.length - 1); // every step but the last
      expectClose(x, loop.final_x, 1e-6);
    },
  );
});

describe('LCMScheduler behaviour', () => {
  const shape = [2, 4, 2, 2];
  const itemSize = 16;
  const sample = Float32Array.from({ length: 2 * itemSize }, (_, i) => Math.sin(i * 0.7));

  function run(generators: RandomSource[], batchShape: readonly number[], x0: Float32Array): Float32Array {
    const scheduler = createScheduler('LCM', config);
    scheduler.setTimesteps(4);
    let x = x0;
    for (const t of scheduler.timesteps)
      x = scheduler.step(standInModel(x, t), t, x, { shape: batchShape, generators });
    return x;
  }

  it("draws each image's step noise from its own generator: a batch equals its items alone", () => {
    const batch = run([new TorchCpuGenerator(3), new TorchCpuGenerator(4)], shape, sample);
    const first = run([new TorchCpuGenerator(3)], [1, 4, 2, 2], sample.slice(0, itemSize));
    const second = run([new TorchCpuGenerator(4)], [1, 4, 2, 2], sample.slice(itemSize));
    expect(batch).toEqual(Float32Array.from([...first, ...second]));
    expect(first).not.toEqual(run([new TorchCpuGenerator(5)], [1, 4, 2, 2], sample.slice(0, itemSize)));
  });

  it('leaves the generator untouched after the last step (4 steps draw 3 times)', () => {
    const used = new TorchCpuGenerator(9);
    run([used], [1, 4, 2, 2], sample.slice(0, itemSize));
    const fresh = new TorchCpuGenerator(9);
    for (let i = 0; i < 3; i++) fresh.randn([1, 4, 2, 2]);
    expect(used.randn([4])).toEqual(fresh.randn([4]));
  });

  it('one step returns the consistency estimate itself, with no generator needed', () => {
    const scheduler = new LCMScheduler(config);
    scheduler.setTimesteps(1);
    const out = scheduler.step(standInModel(sample, 999), 999, sample, { shape });
    expect(out.every(Number.isFinite)).toBe(true);
  });

  it('asks for generators when a step needs noise', () => {
    const scheduler = new LCMScheduler(config);
    scheduler.setTimesteps(2);
    expect(() => scheduler.step(sample, 999, sample, { shape })).toThrow(/pass options.generators/);
  });

  it('refuses more steps than the distillation schedule has, and steps before setTimesteps', () => {
    const scheduler = new LCMScheduler(config);
    expect(() => scheduler.step(sample, 999, sample, { shape })).toThrow(/before setTimesteps/);
    expect(() => scheduler.setTimesteps(51)).toThrow(/51 steps exceed original_inference_steps \(50\)/);
    expect(() => new LCMScheduler(config, { original_inference_steps: 0 })).toThrow(/original_inference_steps/);
    expect(() => new LCMScheduler(config, { thresholding: true })).toThrow(/thresholding=true is not supported/);
  });

  it('a begin index outside the schedule is refused', () => {
    const scheduler = new LCMScheduler(config);
    scheduler.setTimesteps(4);
    expect(() => scheduler.setBeginIndex(4)).toThrow(RangeError);
  });
});
