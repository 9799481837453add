/**
 * The timestep grids against numpy (values printed by numpy 2.x for the same expressions).
 */
import { describe, expect, it } from 'vitest';
import { float32Timesteps, integerTimesteps, numpyArange, numpyRound } from './timestep-spacing.js';

describe('numpy helpers', () => {
  it('numpyRound sends halves to the even neighbour', () => {
    expect([0.5, 1.5, 2.5, 499.5, 832.5, -1.5, 2.4, 2.6].map(numpyRound)).toEqual([0, 2, 2, 500, 832, -2, 2, 3]);
  });

  it('numpyArange fills start + i * ((start + step) - start), as np.arange does', () => {
    // np.arange(1000, 0, -1000 / 7).tolist()
    expect(numpyArange(1000, 0, -1000 / 7)).toEqual([
      1000.0, 857.1428571428571, 714.2857142857142, 571.4285714285713, 428.57142857142844, 285.71428571428555,
      142.85714285714266,
    ]);
    expect(numpyArange(0, 5, 1)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('integer timesteps (DDIM, DDPM)', () => {
  it('linspace: np.linspace(0, 999, N).round()[::-1]', () => {
    expect(integerTimesteps('linspace', 1, 1000, 0)).toEqual([0]);
    expect(integerTimesteps('linspace', 3, 1000, 0)).toEqual([999, 500, 0]);
    expect(integerTimesteps('linspace', 7, 1000, 0)).toEqual([999, 832, 666, 500, 333, 166, 0]);
    expect(integerTimesteps('linspace', 30, 1000, 0).slice(0, 8)).toEqual([999, 965, 930, 896, 861, 827, 792, 758]);
  });

  it('leading: multiples of T // N plus steps_offset', () => {
    expect(integerTimesteps('leading', 10, 1000, 1)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(integerTimesteps('leading', 3, 1000, 0)).toEqual([666, 333, 0]);
  });

  it('trailing: np.round(np.arange(T, 0, -T / N)) - 1', () => {
    expect(integerTimesteps('trailing', 1, 1000, 0)).toEqual([999]);
    expect(integerTimesteps('trailing', 3, 1000, 0)).toEqual([999, 666, 332]);
    expect(integerTimesteps('trailing', 7, 1000, 0)).toEqual([999, 856, 713, 570, 428, 285, 142]);
    expect(integerTimesteps('trailing', 30, 1000, 0).slice(0, 8)).toEqual([999, 966, 932, 899, 866, 832, 799, 766]);
  });
});

describe('float32 timesteps (Euler, LMS, Heun, KDPM2)', () => {
  it('linspace: np.linspace(0, 999, N, dtype=np.float32)[::-1]', () => {
    expect(float32Timesteps('linspace', 3, 1000, 0)).toEqual([999, 499.5, 0]);
    expect(float32Timesteps('linspace', 30, 1000, 0).slice(0, 5)).toEqual([
      999.0, 964.5516967773438, 930.1034545898438, 895.6551513671875, 861.2069091796875,
    ]);
  });

  it('leading and trailing match the integer grids', () => {
    expect(float32Timesteps('leading', 10, 1000, 1)).toEqual(integerTimesteps('leading', 10, 1000, 1));
    expect(float32Timesteps('trailing', 7, 1000, 0)).toEqual(integerTimesteps('trailing', 7, 1000, 0));
  });
});
