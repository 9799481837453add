import { describe, expect, it } from 'vitest';
import { Mt19937, torchSeedToUint64 } from './mt19937.js';

function draw(engine: Mt19937, count: number): number[] {
  return Array.from({ length: count }, () => engine.nextUint32());
}

describe('Mt19937', () => {
  it('produces the standard mt19937 stream for the default seed 5489', () => {
    // C++ [rand.predef]: the 10000th output of a default-constructed std::mt19937 is 4123659995.
    const engine = new Mt19937();
    const outputs = draw(engine, 10000);
    expect(outputs[0]).toBe(3499211612);
    expect(outputs[9999]).toBe(4123659995);
  });

  it('keeps the full torch seed but only its low 32 bits seed the state', () => {
    const a = new Mt19937(42);
    const b = new Mt19937(42n + 2n ** 32n);
    expect(b.seed).toBe(42n + 2n ** 32n);
    expect(draw(b, 700)).toEqual(draw(a, 700));
  });

  it("reads negative seeds as two's complement, as manual_seed does", () => {
    expect(torchSeedToUint64(-1)).toBe(2n ** 64n - 1n);
    expect(draw(new Mt19937(-1), 5)).toEqual(draw(new Mt19937(0xffffffff), 5));
  });

  it('rejects seeds torch rejects', () => {
    expect(() => new Mt19937(2n ** 64n)).toThrow(RangeError);
    expect(() => new Mt19937(-(2n ** 63n) - 1n)).toThrow(RangeError);
    expect(() => new Mt19937(1.5)).toThrow(RangeError);
  });
});
