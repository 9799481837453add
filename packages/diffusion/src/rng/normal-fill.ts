/**
 * The blocks of torch's `normal_fill_AVX2` in WebAssembly SIMD (normal-fill.wat): MT19937 uniforms
 * and Box–Muller on four float32 lanes at a time, bit for bit what the TypeScript lanes
 * (`boxMuller16`) compute, in about a quarter of the time (bench row 1d). Every normal Kiln draws
 * on the CPU source comes through here: the initial latents once per image, and every step of the
 * ancestral and SDE samplers, where the DPM++ SDE Brownian tree draws ~19 latent-sized vectors per
 * step.
 *
 * One instance per thread (the inference thread has its own), created on first use.
 */
import type { Mt19937 } from './mt19937.js';
import { NORMAL_FILL_WASM_BASE64 } from './normal-fill-module.js';

/** The module's memory layout (normal-fill.wat's header). */
const STATE_OFFSET = 64;
const STATE_WORDS = 624;
const UNSURE_OFFSET = 2560;
const DATA_OFFSET = 8192;
/** Blocks of 16 normals per call: the data area's 64 KiB. */
const CHUNK_BLOCKS = 1024;
const BLOCK = 16;

/** The part of the WebAssembly API used here (TypeScript declares it only in its DOM libraries). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

interface NormalFillExports {
  memory: { buffer: ArrayBuffer };
  /** The state's next word after a call. */
  mtNext: { value: number };
  normalBlocks(next: number, blocks: number): number;
}

interface NormalFillModule {
  exports: NormalFillExports;
  state: Uint32Array;
  data: Float32Array;
  unsure: Int32Array;
}

let loaded: NormalFillModule | undefined;

function load(): NormalFillModule {
  if (!loaded) {
    const bytes = Buffer.from(NORMAL_FILL_WASM_BASE64, 'base64');
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as NormalFillExports;
    const buffer = exports.memory.buffer; // fixed size: the module never grows its memory
    loaded = {
      exports,
      state: new Uint32Array(buffer, STATE_OFFSET, STATE_WORDS),
      data: new Float32Array(buffer, DATA_OFFSET, CHUNK_BLOCKS * BLOCK),
      unsure: new Int32Array(buffer, UNSURE_OFFSET, CHUNK_BLOCKS),
    };
  }
  return loaded;
}

/**
 * Fills `data[0, 16 · blocks)` as `normal_fill_AVX2` fills its full blocks: 16 · blocks uniforms
 * drawn from `engine` in order, then Box–Muller per block of 16. Blocks the module could not round
 * with certainty (a float64 sum on a float32 midpoint, or a subnormal result) come back as uniforms
 * and are finished by `exactBlock`, the TypeScript lanes. Returns how many blocks that was (for the
 * tests).
 */
export function fillNormalBlocks(
  engine: Mt19937,
  data: Float32Array,
  blocks: number,
  exactBlock: (data: Float32Array, start: number) => void,
): number {
  const { exports, state, data: chunk, unsure } = load();
  let next = engine.saveState(state);
  let finishedHere = 0;
  for (let first = 0; first < blocks; first += CHUNK_BLOCKS) {
    const count = Math.min(CHUNK_BLOCKS, blocks - first);
    const unsureCount = exports.normalBlocks(next, count);
    next = exports.mtNext.value;
    data.set(count === CHUNK_BLOCKS ? chunk : chunk.subarray(0, count * BLOCK), first * BLOCK);
    for (let i = 0; i < unsureCount; i++) exactBlock(data, (first + unsure[i]) * BLOCK);
    finishedHere += unsureCount;
  }
  engine.loadState(state, next);
  return finishedHere;
}
