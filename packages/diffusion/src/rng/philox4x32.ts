/**
 * The Philox4x32-10 block function (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as
 * easy as 1, 2, 3", SC'11; the Random123 library), which CUDA's curand and torch's CUDA
 * generator are built on.
 */

const MULTIPLIER_0 = 0xd2511f53;
const MULTIPLIER_1 = 0xcd9e8d57;
/** Weyl key increments (golden ratio and sqrt(3) - 1, in 32 bits). */
const KEY_BUMP_0 = 0x9e3779b9;
const KEY_BUMP_1 = 0xbb67ae85;
const ROUNDS = 10;

/** High 32 bits of the 64-bit product of two uint32 values, from 16-bit halves (exact in float64). */
function mulHigh32(a: number, b: number): number {
  const aLow = a & 0xffff;
  const aHigh = a >>> 16;
  const bLow = b & 0xffff;
  const bHigh = b >>> 16;
  const lowLow = aLow * bLow;
  const lowHigh = aLow * bHigh;
  const highLow = aHigh * bLow;
  const carry = ((lowLow >>> 16) + (lowHigh & 0xffff) + (highLow & 0xffff)) >>> 16;
  return (aHigh * bHigh + (lowHigh >>> 16) + (highLow >>> 16) + carry) >>> 0;
}

/**
 * Encrypts the 128-bit counter (c0..c3) under the 64-bit key (k0, k1) with 10 Philox rounds,
 * writing the four output words to `out[0..4)`. All inputs are uint32 values.
 */
export function philox4x32Round10(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  for (let round = 0; round < ROUNDS; round++) {
    if (round > 0) {
      k0 = (k0 + KEY_BUMP_0) >>> 0;
      k1 = (k1 + KEY_BUMP_1) >>> 0;
    }
    // (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2; new counter = (hi1^c1^k0, lo1, hi0^c3^k1, lo0).
    const high0 = mulHigh32(c0, MULTIPLIER_0);
    const low0 = Math.imul(c0, MULTIPLIER_0) >>> 0;
    const high1 = mulHigh32(c2, MULTIPLIER_1);
    const low1 = Math.imul(c2, MULTIPLIER_1) >>> 0;
    c0 = (high1 ^ c1 ^ k0) >>> 0;
    c1 = low1;
    c2 = (high0 ^ c3 ^ k1) >>> 0;
    c3 = low0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}
