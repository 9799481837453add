import { describe, it, expect } from 'vitest';
import { applyTokenWeights } from './apply-weights.js';

describe('applyTokenWeights', () => {
  it('scales each token by its weight, then restores the chunk mean', () => {
    // 2 tokens × 2 dims. Mean before 2.5; weighted [1, 2, 6, 8] has mean 4.25; × 2.5/4.25 = 10/17.
    const hidden = new Float32Array([1, 2, 3, 4]);
    applyTokenWeights(hidden, new Float32Array([1, 2]), 2, 2);
    const expected = [10 / 17, 20 / 17, 60 / 17, 80 / 17];
    hidden.forEach((value, i) => expect(value).toBeCloseTo(expected[i], 6));
    expect((hidden[0] + hidden[1] + hidden[2] + hidden[3]) / 4).toBeCloseTo(2.5, 6);
  });

  it('down-weights a token relative to the others', () => {
    // Mean before 2; weighted [0.5, 0.5, 3, 3] has mean 1.75; × 2/1.75 = 8/7.
    const hidden = new Float32Array([1, 1, 3, 3]);
    applyTokenWeights(hidden, new Float32Array([0.5, 1]), 2, 2);
    [4 / 7, 4 / 7, 24 / 7, 24 / 7].forEach((value, i) => expect(hidden[i]).toBeCloseTo(value, 6));
  });

  it('leaves the embeddings bit-identical when every weight is 1', () => {
    const hidden = new Float32Array([0.1, -0, 3.4028234663852886e38, Number.NaN, 1e-45, -7.25]);
    const before = new Uint32Array(hidden.buffer.slice(0));
    applyTokenWeights(hidden, new Float32Array([1, 1, 1]), 3, 2);
    expect(new Uint32Array(hidden.buffer)).toEqual(before);
  });

  it('skips the rescale when the weighted mean is zero', () => {
    const hidden = new Float32Array([1, 2, 3, 4]);
    applyTokenWeights(hidden, new Float32Array([0, 0]), 2, 2);
    expect(Array.from(hidden)).toEqual([0, 0, 0, 0]);
  });

  it('rejects arrays of the wrong size', () => {
    expect(() => applyTokenWeights(new Float32Array(6), new Float32Array(2), 2, 2)).toThrow(RangeError);
    expect(() => applyTokenWeights(new Float32Array(4), new Float32Array(3), 2, 2)).toThrow(RangeError);
  });
});
