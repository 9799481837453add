/**
 * Why a job failed, as it crosses the queue: the queue library keeps a failure as one string (its
 * `failedReason`), so a worker writes this JSON there and every reader decodes it here. Codes are
 * the API's error codes, so a failure becomes an HTTP answer without translation.
 */
import { z } from 'zod';
import { ERROR_CODES } from './errors.js';

const jobFailureSchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  field: z.string().optional(),
});

/** A job's failure: an error code, a message and, when one request field is at fault, the field. */
export type JobFailure = z.output<typeof jobFailureSchema>;

export function encodeFailure(failure: JobFailure): string {
  return JSON.stringify(failure);
}

/**
 * The failure a job's `failedReason` holds. A reason not written by Kiln (the queue's own, such
 * as a job that stalled too often) is an `internal_error` carrying that text.
 */
export function decodeFailure(reason: string | undefined): JobFailure {
  if (reason) {
    try {
      const parsed = jobFailureSchema.safeParse(JSON.parse(reason));
      if (parsed.success) return parsed.data;
    } catch {
      // not JSON: a failure from the queue library itself
    }
  }
  return { code: 'internal_error', message: reason || 'the job failed' };
}

/** The failure every canceled job carries. */
export const CANCELED: JobFailure = { code: 'canceled', message: 'the job was canceled' };

/** Whether a failure reason is a cancellation. */
export const isCanceledReason = (reason: string | undefined): boolean => decodeFailure(reason).code === 'canceled';
