/**
 * The shared memory between a denoising loop and the thread that draws its noise ahead: a few
 * slots of one query's noise each, filled in query order by the producer and read in the same
 * order by the consumer, which blocks (Atomics.wait) only when the next query is not ready yet.
 * Either side may be gone: the consumer gives up after a stall and draws the noise itself; the
 * producer stops when the consumer cancels or stops reading.
 */

const PRODUCED = 0;
const CONSUMED = 1;
const STATE = 2;
const CONTROL_BYTES = 16;

const RUNNING = 0;
const FAILED = 1;
const CANCELLED = 2;

/** Queries the producer may run ahead of the consumer: the next step's, while one is read. */
export const NOISE_RING_SLOTS = 2;

/** How long a side waits without the other moving before it stops counting on it. */
const STALL_MS = 10_000;

export class NoiseRing {
  readonly buffer: SharedArrayBuffer;
  private readonly control: Int32Array;
  private readonly slots: Float32Array;

  /** A new ring for queries of `queryLength` floats, or the producer's view of `buffer`. */
  constructor(queryLength: number, buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(CONTROL_BYTES + NOISE_RING_SLOTS * queryLength * 4);
    this.control = new Int32Array(this.buffer, 0, CONTROL_BYTES / 4);
    this.slots = new Float32Array(this.buffer, CONTROL_BYTES, NOISE_RING_SLOTS * queryLength);
  }

  private get queryLength(): number {
    return this.slots.length / NOISE_RING_SLOTS;
  }

  private slot(query: number): Float32Array {
    const start = (query % NOISE_RING_SLOTS) * this.queryLength;
    return this.slots.subarray(start, start + this.queryLength);
  }

  private running(): boolean {
    return Atomics.load(this.control, STATE) === RUNNING;
  }

  /**
   * Blocks until `control[index]` exceeds `target`; false when the ring stopped running or the
   * value did not move for {@link STALL_MS}.
   */
  private waitBeyond(index: number, target: number): boolean {
    let seen = Atomics.load(this.control, index);
    let since = performance.now();
    while (seen <= target) {
      if (!this.running()) return false;
      Atomics.wait(this.control, index, seen, STALL_MS);
      const now = Atomics.load(this.control, index);
      if (now !== seen) since = performance.now();
      else if (performance.now() - since >= STALL_MS) return false;
      seen = now;
    }
    return this.running();
  }

  /** Producer: waits for query `query`'s slot to be free; false when it should stop. */
  awaitSlot(query: number): boolean {
    return this.waitBeyond(CONSUMED, query - NOISE_RING_SLOTS);
  }

  /** Producer: query `query`'s noise is ready. */
  publish(query: number, noise: Float32Array): void {
    this.slot(query).set(noise);
    Atomics.store(this.control, PRODUCED, query + 1);
    Atomics.notify(this.control, PRODUCED);
  }

  /** Consumer: query `query`'s noise (a copy), or undefined when the producer failed or stalled. */
  take(query: number): Float32Array | undefined {
    if (!this.waitBeyond(PRODUCED, query)) return undefined;
    const noise = this.slot(query).slice();
    Atomics.store(this.control, CONSUMED, query + 1);
    Atomics.notify(this.control, CONSUMED);
    return noise;
  }

  /** Producer: drawing failed; the consumer draws the rest itself. */
  fail(): void {
    this.stop(FAILED);
  }

  /** Consumer: no more queries will be read. */
  cancel(): void {
    this.stop(CANCELLED);
  }

  private stop(state: number): void {
    Atomics.compareExchange(this.control, STATE, RUNNING, state);
    Atomics.notify(this.control, PRODUCED);
    Atomics.notify(this.control, CONSUMED);
  }
}
