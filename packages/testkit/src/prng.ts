/**
 * A small seeded PRNG for test weights. Each tensor gets its own stream, seeded from the model
 * seed and the tensor's name, so values do not depend on the order tensors are generated in.
 */

/** FNV-1a over the UTF-16 code units of `text`, then a murmur3-style finalizer for avalanche. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

/** mulberry32: a 32-bit state generator, fast and good enough for random weights. */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** The generator for tensor `key` of a model made with `seed`. */
export function tensorRandom(seed: number, key: string): Mulberry32 {
  return new Mulberry32(hashString(`${seed >>> 0}:${key}`));
}

/**
 * `count` values, uniform with mean `mean` and standard deviation `std` (uniform rather than
 * normal, as PyTorch's default Linear/Conv init, and cheaper for a billion weights).
 */
export function uniformValues(seed: number, key: string, count: number, std: number, mean = 0): Float32Array {
  const random = tensorRandom(seed, key);
  const halfWidth = std * Math.sqrt(3);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = mean + (random.next() * 2 - 1) * halfWidth;
  return out;
}
