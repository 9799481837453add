/** Seeds are unsigned 32-bit integers: 0 ≤ seed < 2^32. */
export const SEED_MODULUS = 2 ** 32;

/** The largest valid seed, 2^32 − 1. */
export const MAX_SEED = SEED_MODULUS - 1;

/** The `seed` field as a request carries it: one int, a list of (int or null), or null/absent. */
export type SeedInput = number | readonly (number | null)[] | null | undefined;

/** A uniformly random seed in [0, 2^32) from the platform's CSPRNG. */
export function randomSeed(): number {
  const [seed] = crypto.getRandomValues(new Uint32Array(1));
  return seed;
}

/**
 * The seed of every image of a request, in image order (docs/generate.md):
 * - an int `s` gives `s, s+1, …` modulo 2^32 (so `2^32 − 1` wraps to `0`);
 * - a list gives its entries, each `null` drawn with `random()`;
 * - `null` or absent draws every seed with `random()`.
 * Each image is then reproducible alone by sending its own seed with `num_images: 1`.
 *
 * @param random returns an integer in [0, 2^32); defaults to {@link randomSeed}.
 * @throws RangeError when a seed or a drawn value is out of range, or a list's length is not `numImages`.
 */
export function resolveSeeds(seed: SeedInput, numImages: number, random: () => number = randomSeed): number[] {
  if (!Number.isInteger(numImages) || numImages < 1) {
    throw new RangeError(`numImages must be a positive integer, got ${numImages}`);
  }
  const draw = (): number => checkSeed(random(), 'random()');
  if (seed === null || seed === undefined) {
    return Array.from({ length: numImages }, draw);
  }
  if (typeof seed === 'number') {
    const first = checkSeed(seed, 'seed');
    return Array.from({ length: numImages }, (_, i) => (first + i) % SEED_MODULUS);
  }
  if (seed.length !== numImages) {
    throw new RangeError(`seed list has ${seed.length} entries, expected num_images = ${numImages}`);
  }
  return seed.map((entry, i) => (entry === null ? draw() : checkSeed(entry, `seed[${i}]`)));
}

function checkSeed(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_SEED) {
    throw new RangeError(`${what} must be an integer in [0, 2^32), got ${value}`);
  }
  return value;
}
