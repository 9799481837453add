/**
 * The retry schedule of webhook deliveries: exponential, `base × 2^(n-1)` after the n-th failed
 * attempt (BullMQ's built-in `exponential` backoff computes exactly this). With the defaults
 * (10 attempts, 60 s base) the waits are 1, 2, 4, … 256 minutes: the 8th attempt comes 127 minutes
 * after the first and the 10th about 8.5 hours after it.
 */

/** Wait before attempt `failedAttempt + 1`, after attempt number `failedAttempt` (1-based) failed. */
export function backoffDelayMs(failedAttempt: number, baseMs: number): number {
  return baseMs * 2 ** (failedAttempt - 1);
}

/** When each attempt starts, in ms after the first (delivery time itself not counted): [0, base, 3·base, 7·base, …]. */
export function attemptOffsetsMs(attempts: number, baseMs: number): number[] {
  const offsets = [0];
  for (let n = 1; n < attempts; n++) offsets.push(offsets[n - 1] + backoffDelayMs(n, baseMs));
  return offsets;
}

/** BullMQ job options that implement the schedule. */
export function deliveryJobOptions(attempts: number, baseMs: number) {
  return { attempts, backoff: { type: 'exponential' as const, delay: baseMs } };
}
