/**
 * Failed authentications are throttled per client address: a burst of `perMinute` failures, then
 * one per 60/perMinute seconds (a generic cell rate). A throttled address gets 429 before its token
 * is even looked at, so guessing cannot go on at full speed behind the 429s. Kept in memory, per
 * API process: it must work while Redis is away, and an address that spreads its guesses over
 * several processes still gets each one's limit only.
 */
const WINDOW_MS = 60_000;
/** Addresses remembered at most; expired entries are swept first, then the oldest are dropped. */
const MAX_ADDRESSES = 100_000;

export class AuthFailureThrottle {
  /** Per address, the theoretical arrival time of its next allowed failure. */
  private readonly tat = new Map<string, number>();
  private readonly intervalMs: number;

  constructor(perMinute: number) {
    this.intervalMs = WINDOW_MS / perMinute;
  }

  /** Milliseconds until this address may try again; 0 when it may try now. */
  waitMs(address: string, now = Date.now()): number {
    const tat = this.tat.get(address);
    if (tat === undefined) return 0;
    return Math.max(0, tat - now - WINDOW_MS + this.intervalMs);
  }

  /** Counts one failed authentication of this address. */
  fail(address: string, now = Date.now()): void {
    const tat = Math.max(this.tat.get(address) ?? now, now) + this.intervalMs;
    this.tat.delete(address); // re-inserted last, so the Map's order is oldest activity first
    this.tat.set(address, tat);
    if (this.tat.size > MAX_ADDRESSES) this.sweep(now);
  }

  private sweep(now: number): void {
    for (const [address, tat] of this.tat) if (tat <= now) this.tat.delete(address);
    for (const address of this.tat.keys()) {
      if (this.tat.size <= MAX_ADDRESSES) break;
      this.tat.delete(address);
    }
  }
}
