/**
 * The 32-bit Mersenne Twister exactly as PyTorch's CPU generator runs it (`at::mt19937`,
 * aten/src/ATen/core/MT19937RNGEngine.h): Matsumoto & Nishimura's mt19937ar with the
 * `init_genrand` seeding (the same stream as C++'s `std::mt19937`).
 */

const STATE_SIZE = 624;
const SHIFT_SIZE = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;

const TWO_POW_63 = 2n ** 63n;
const TWO_POW_64 = 2n ** 64n;

/**
 * Reduces a seed to the unsigned 64-bit value `torch.Generator.manual_seed` stores: Python
 * ints in [0, 2^64) are taken as they are, negative ones in [-2^63, 0) as their two's
 * complement (torch/csrc/Generator.cpp, `unpack_uint64`). Anything else throws, as torch does.
 */
export function torchSeedToUint64(seed: number | bigint): bigint {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RangeError(`seed must be a safe integer or a bigint, got ${seed}`);
  }
  const big = BigInt(seed);
  if (big < -TWO_POW_63 || big >= TWO_POW_64) {
    throw new RangeError(`seed ${big} is outside [-2^63, 2^64), which torch.manual_seed rejects`);
  }
  return BigInt.asUintN(64, big);
}

/** PyTorch's MT19937 engine: one 32-bit output per `nextUint32()`. */
export class Mt19937 {
  /** The seed as torch stores it (`Generator.initial_seed()`); only its low 32 bits seed the state. */
  readonly seed: bigint;
  private readonly state = new Uint32Array(STATE_SIZE);
  /** Index of the next state word to temper; STATE_SIZE means "regenerate first". */
  private next = STATE_SIZE;

  /** @param seed as given to `torch.Generator("cpu").manual_seed(seed)`; 5489 is mt19937's default. */
  constructor(seed: number | bigint = 5489) {
    this.seed = torchSeedToUint64(seed);
    const state = this.state;
    // init_genrand: s[0] = seed mod 2^32; s[j] = 1812433253 * (s[j-1] ^ (s[j-1] >>> 30)) + j (mod 2^32).
    state[0] = Number(BigInt.asUintN(32, this.seed));
    for (let j = 1; j < STATE_SIZE; j++) {
      const previous = state[j - 1];
      state[j] = Math.imul(1812433253, previous ^ (previous >>> 30)) + j;
    }
  }

  /** The next 32-bit output (an integer in [0, 2^32)), as `at::mt19937::operator()`. */
  nextUint32(): number {
    if (this.next >= STATE_SIZE) this.regenerate();
    let y = this.state[this.next++];
    // Tempering (mt19937ar's genrand_int32).
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * Copies the state into `words` (624 of them) and returns the index of the next word to temper,
   * so that another implementation of the same engine can continue the stream (normal-fill.ts).
   */
  saveState(words: Uint32Array): number {
    words.set(this.state);
    return this.next;
  }

  /** Takes over a state written by {@link saveState} and advanced elsewhere. */
  loadState(words: Uint32Array, next: number): void {
    if (words.length !== STATE_SIZE || !(next >= 0 && next <= STATE_SIZE)) {
      throw new RangeError('an MT19937 state is 624 words and a next index in [0, 624]');
    }
    this.state.set(words);
    this.next = next;
  }

  /** Refills all 624 state words at once (the "twist"), as `next_state()` does. */
  private regenerate(): void {
    const state = this.state;
    for (let k = 0; k < STATE_SIZE; k++) {
      const following = state[k + 1 === STATE_SIZE ? 0 : k + 1];
      const mixed = (state[k] & UPPER_MASK) | (following & LOWER_MASK);
      const shifted = state[k + SHIFT_SIZE < STATE_SIZE ? k + SHIFT_SIZE : k + SHIFT_SIZE - STATE_SIZE];
      state[k] = shifted ^ (mixed >>> 1) ^ (following & 1 ? MATRIX_A : 0);
    }
    this.next = 0;
  }
}
