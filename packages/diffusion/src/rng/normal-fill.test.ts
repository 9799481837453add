import { readFileSync } from 'node:fs';
import wabt from 'wabt';
import { describe, expect, it } from 'vitest';
import { Mt19937 } from './mt19937.js';
import { NORMAL_FILL_WASM_BASE64 } from './normal-fill-module.js';
import { fillNormalBlocks } from './normal-fill.js';
import { boxMuller16 } from './torch-cpu-generator.js';

/** The TypeScript lanes alone: 16 · blocks uniforms, then boxMuller16 per block. */
function laneReference(engine: Mt19937, blocks: number): Float32Array {
  const data = new Float32Array(blocks * 16);
  for (let i = 0; i < data.length; i++) data[i] = (engine.nextUint32() & 0xffffff) * 2 ** -24;
  for (let start = 0; start < data.length; start += 16) boxMuller16(data, start);
  return data;
}

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

describe('fillNormalBlocks (WebAssembly)', () => {
  it('gives the TypeScript lanes’ bits, including the blocks it hands back, and continues the engine', () => {
    let handedBack = 0;
    // 3 chunks and a partial one for some seeds; one 512×512 latent for the others.
    for (let seed = 0; seed < 32; seed++) {
      const blocks = seed % 4 === 0 ? 3 * 1024 + 17 : 1024;
      const wasmEngine = new Mt19937(seed);
      const laneEngine = new Mt19937(seed);
      const got = new Float32Array(blocks * 16);
      handedBack += fillNormalBlocks(wasmEngine, got, blocks, boxMuller16);
      expect(bitsOf(got), `seed ${seed}`).toEqual(bitsOf(laneReference(laneEngine, blocks)));
      expect(wasmEngine.nextUint32()).toBe(laneEngine.nextUint32());
    }
    // About one block in 3,000 has a float64 sum on a float32 midpoint: the exact path ran.
    expect(handedBack).toBeGreaterThan(0);
  });

  it('continues an engine mid-state, across a regeneration of its 624 words', () => {
    const wasmEngine = new Mt19937(7);
    const laneEngine = new Mt19937(7);
    for (let i = 0; i < 600; i++) expect(wasmEngine.nextUint32()).toBe(laneEngine.nextUint32());
    const got = new Float32Array(5 * 16);
    fillNormalBlocks(wasmEngine, got, 5, boxMuller16);
    expect(bitsOf(got)).toEqual(bitsOf(laneReference(laneEngine, 5)));
    expect(wasmEngine.nextUint32()).toBe(laneEngine.nextUint32());
  });

  it('embeds what normal-fill.wat assembles to (rebuild with node scripts/build-wasm.mjs)', async () => {
    const source = readFileSync(new URL('./normal-fill.wat', import.meta.url), 'utf8');
    const parsed = (await wabt()).parseWat('normal-fill.wat', source, { simd: true });
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    parsed.destroy();
    expect(Buffer.from(buffer).toString('base64')).toBe(NORMAL_FILL_WASM_BASE64);
  });
});
