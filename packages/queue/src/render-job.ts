/**
 * What travels through Redis for one render: the validated request (without image bytes: inputs
 * are in storage and the job carries their keys), the resolved seeds and who asked.
 * The API builds it, the worker parses it again before running it.
 */
import type { ModelFamily } from '@kiln/contracts';
import { z } from 'zod';

export const RENDER_QUEUE = 'render';

/** BullMQ priorities: lower runs first; jobs without a priority run before all prioritized ones. */
export const PRIORITY = { interactive: undefined, async: 5, batch: 10 } as const;

export const renderJobDataSchema = z.object({
  family: z.enum(['sd15', 'sd3']),
  tenant: z.string().min(1),
  /** The request as the API validated it, minus `init_image`/`mask_image`. */
  request: z.record(z.string(), z.unknown()),
  seeds: z.array(z.number().int().min(0).max(2 ** 32 - 1)).min(1).max(16),
  /** Storage keys of the request's input images, by field name. */
  inputs: z.record(z.string(), z.string()).default({}),
  submittedAt: z.number(),
  /** The caller's API key id: the webhook worker signs with that key's `webhook_secret` (never stored here). */
  keyId: z.string().optional(),
  /** Base of the links put in webhook payloads (image URLs), as the API saw it at submit time. */
  baseUrl: z.string().optional(),
  /** The batch this job is an item of (`POST /v1/batches`). */
  batch_id: z.string().optional(),
  /** The caller's `custom_id` (a batch item's, or the request's). */
  custom_id: z.string().optional(),
  /** A batch item's virtual start tag in the fair-share clock (docs/fairness.md). */
  fairTag: z.number().int().min(0).optional(),
});
export type RenderJobData = z.infer<typeof renderJobDataSchema>;

export interface StoredImage {
  index: number;
  seed: number;
  /** Storage key of the encoded image; null when it was removed for safety. */
  key: string | null;
  contentType: string;
  removedForSafety: boolean;
  safetyScore: number | null;
}

/** A finished job's return value, kept by BullMQ until the result retention ends. */
export interface RenderJobResult {
  images: StoredImage[];
  predictionTimeMs: number;
  model: string;
}

export interface RenderJobProgress {
  step: number;
  totalSteps: number;
  imagesDone: number;
  numImages: number;
}

/** A failure the worker reports in the job's failedReason, so the API can answer with a code. */
export interface JobFailure {
  code: string;
  message: string;
  field?: string;
}

export function encodeFailure(failure: JobFailure): string {
  return JSON.stringify(failure);
}

export function decodeFailure(reason: string | undefined): JobFailure {
  if (reason) {
    try {
      const parsed = JSON.parse(reason) as Partial<JobFailure>;
      if (typeof parsed.code === 'string' && typeof parsed.message === 'string') return parsed as JobFailure;
    } catch {
      // a failure not written by Kiln's worker (e.g. a stalled job): fall through
    }
  }
  return { code: 'internal_error', message: reason || 'the job failed' };
}

export type { ModelFamily };
