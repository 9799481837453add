import { PhiloxGenerator } from './philox-generator.js';
import type { RandomSource } from './random-source.js';
import { TorchCpuGenerator } from './torch-cpu-generator.js';

export type { RandomSource } from './random-source.js';
export { randnPerItem } from './random-source.js';
export { Mt19937, torchSeedToUint64 } from './mt19937.js';
export { TorchCpuGenerator, boxMuller16, shapeNumel } from './torch-cpu-generator.js';
export { PhiloxGenerator } from './philox-generator.js';
export { philox4x32Round10 } from './philox4x32.js';

/**
 * Where a generator's normals come from: `cpu` is `torch.Generator("cpu").manual_seed(seed)`
 * (diffusers' and ComfyUI's default); `nv` is AUTOMATIC1111's "NV" source, which matches
 * `torch.randn` on an NVIDIA GPU.
 */
export type RngSource = 'cpu' | 'nv';

/** A fresh generator seeded with `seed` (an integer; Kiln's seeds are in [0, 2^32)). */
export function createGenerator(seed: number, source: RngSource = 'cpu'): RandomSource {
  switch (source) {
    case 'cpu':
      return new TorchCpuGenerator(seed);
    case 'nv':
      return new PhiloxGenerator(seed);
    default:
      throw new RangeError(`unknown random source ${String(source)}`);
  }
}
