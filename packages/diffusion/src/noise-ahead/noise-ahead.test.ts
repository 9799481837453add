/**
 * Brownian noise drawn ahead on a helper thread (real worker threads, the compiled helper): the
 * same numbers as drawing inline in every case, and the helper really answers.
 */
import { BROWNIAN_TREE_SAMPLERS } from '@kiln/memory';
import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from '../rng/torch-cpu-generator.js';
import { BrownianTreeNoiseSampler, type BrownianNoiseSpec } from '../schedulers/brownian-tree.js';
import { DPMSolverSDEScheduler } from '../schedulers/dpm-sde.scheduler.js';
import { SAMPLER_NAMES, createScheduler } from '../schedulers/index.js';
import type { StepOptions } from '../schedulers/scheduler.js';
import { NoiseAhead, noiseAheadFor } from './noise-ahead.js';

const ITEM_SHAPE = [4, 16, 16];
const ITEM_SIZE = 4 * 16 * 16;

/**
 * A stand-in model loop of DPM++ SDE Karras over a batch, one generator per item; as the
 * denoising loop does, `beforeModel` when the noise is drawn ahead.
 */
function sample(steps: number, seeds: number[], brownianNoise?: StepOptions['brownianNoise']): Float32Array {
  const scheduler = new DPMSolverSDEScheduler({}, { use_karras_sigmas: true });
  scheduler.setTimesteps(steps);
  const shape = [seeds.length, ...ITEM_SHAPE];
  const options: StepOptions = { shape, generators: seeds.map((s) => new TorchCpuGenerator(s)), brownianNoise };
  let x = new TorchCpuGenerator(99).randn(shape);
  for (const t of scheduler.timesteps) {
    const eps = Float32Array.from(scheduler.scaleModelInput(x, t), (v) => Math.fround(v * 0.1));
    if (brownianNoise) scheduler.beforeModel(t, options);
    x = scheduler.step(eps, t, x, options);
  }
  return x;
}

const spec: BrownianNoiseSpec = {
  sigmaMin: 0.0292,
  sigmaMax: 14.61,
  itemSize: ITEM_SIZE,
  seeds: [5, 6],
  queries: [
    [14.61, 9.2],
    [14.61, 6.1],
    [6.1, 3.3],
    [6.1, 2.2],
  ],
};
const inlineNoise = (query: readonly [number, number]) => BrownianTreeNoiseSampler.fromSpec(spec).noise(...query);

describe('NoiseAhead', () => {
  it('gives a DPM++ SDE loop the latents of inline noise drawn in the step, every query answered by the helper', () => {
    const ahead = new NoiseAhead();
    try {
      const drawnAhead = sample(20, [7, 8], ahead.source);
      expect(drawnAhead).toEqual(sample(20, [7, 8]));
      // 20 steps: 39 calls, the last one (to sigma 0) without noise.
      expect(ahead.tally).toEqual({ ahead: 38, inline: 0 });
    } finally {
      ahead.close();
    }
  });

  it('draws a query it did not foresee inline, and the rest too, with the same numbers', () => {
    const ahead = new NoiseAhead();
    const noise = ahead.source(spec);
    expect(noise.noise(...spec.queries[0])).toEqual(inlineNoise(spec.queries[0]));
    expect(noise.noise(...spec.queries[2])).toEqual(inlineNoise(spec.queries[2]));
    expect(noise.noise(...spec.queries[1])).toEqual(inlineNoise(spec.queries[1]));
    expect(ahead.tally).toEqual({ ahead: 1, inline: 2 });
    ahead.close();
  });

  it("answers a render's next loop in full after one that stopped part-way, from the same helper", () => {
    const ahead = new NoiseAhead();
    ahead.source(spec).noise(...spec.queries[0]);
    const next = ahead.source(spec);
    for (const query of spec.queries) expect(next.noise(...query)).toEqual(inlineNoise(query));
    expect(ahead.tally).toEqual({ ahead: 1 + spec.queries.length, inline: 0 });
    ahead.close();
  });

  it('draws inline once closed, with the same numbers', () => {
    const ahead = new NoiseAhead();
    ahead.close();
    expect(ahead.source(spec).noise(...spec.queries[0])).toEqual(inlineNoise(spec.queries[0]));
    expect(ahead.tally).toEqual({ ahead: 0, inline: 1 });
  });

  it('serves two renders at once, each from its own helper', () => {
    const a = new NoiseAhead();
    const b = new NoiseAhead();
    const noiseA = a.source(spec);
    const noiseB = b.source(spec);
    for (const query of spec.queries) {
      expect(noiseA.noise(...query)).toEqual(inlineNoise(query));
      expect(noiseB.noise(...query)).toEqual(inlineNoise(query));
    }
    expect([a.tally.ahead, b.tally.ahead]).toEqual([spec.queries.length, spec.queries.length]);
    a.close();
    b.close();
  });

  it('surfaces an error the helper met as drawing inline would', () => {
    const ahead = new NoiseAhead();
    const broken = { ...spec, sigmaMin: 20 };
    expect(() => ahead.source(broken).noise(...spec.queries[0])).toThrow(/t1 must exceed t0/);
    ahead.close();
  });
});

describe('noiseAheadFor', () => {
  it('gives a render on an accelerator a helper, and one on the CPU provider none', () => {
    expect(noiseAheadFor('cpu')).toBeUndefined();
    for (const provider of ['cuda', 'webgpu']) {
      const ahead = noiseAheadFor(provider);
      expect(ahead).toBeInstanceOf(NoiseAhead);
      ahead?.close();
    }
  });
});

describe('the memory estimate of Brownian noise', () => {
  it('counts the trees for exactly the samplers whose scheduler keeps them', () => {
    const withTrees = SAMPLER_NAMES.filter((name) => createScheduler(name, {}) instanceof DPMSolverSDEScheduler);
    expect(withTrees).toEqual(BROWNIAN_TREE_SAMPLERS);
  });
});
