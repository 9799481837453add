import { describe, expect, it } from 'vitest';
import { createGenerator, PhiloxGenerator, randnPerItem, TorchCpuGenerator, type RngSource } from './index.js';

describe('createGenerator', () => {
  it('defaults to the torch CPU generator and can make the NV one', () => {
    expect(createGenerator(1)).toBeInstanceOf(TorchCpuGenerator);
    expect(createGenerator(1, 'cpu').randn([20])).toEqual(new TorchCpuGenerator(1).randn([20]));
    expect(createGenerator(1, 'nv')).toBeInstanceOf(PhiloxGenerator);
    expect(createGenerator(1, 'nv').randn([20])).toEqual(new PhiloxGenerator(1).randn([20]));
  });

  it('rejects an unknown source', () => {
    const unknownSource: string = 'gpu';
    expect(() => createGenerator(1, unknownSource as RngSource)).toThrow(RangeError);
  });
});

describe('randnPerItem', () => {
  for (const source of ['cpu', 'nv'] as const) {
    it(`draws each batch item from its own generator exactly as if drawn alone (${source})`, () => {
      const seeds = [7, 8, 4294967295];
      const itemShape = [1, 4, 8, 9]; // 288 elements: a multiple of 16 plus a recomputed tail
      const generators = seeds.map((seed) => createGenerator(seed, source));
      const alone = seeds.map((seed) => createGenerator(seed, source));
      const itemSize = 4 * 8 * 9;
      // Twice, so the per-item generator state is checked to carry over too.
      for (let round = 0; round < 2; round++) {
        const batch = randnPerItem(generators, [3, 4, 8, 9]);
        expect(batch).toHaveLength(3 * itemSize);
        alone.forEach((generator, i) => {
          expect(batch.subarray(i * itemSize, (i + 1) * itemSize)).toEqual(generator.randn(itemShape));
        });
      }
    });
  }

  it('requires one generator per batch item', () => {
    expect(() => randnPerItem([createGenerator(1)], [2, 4])).toThrow(/2/);
  });
});
