/**
 * The render queue's job: its name, its priorities, and the one way to read a job's payload.
 * The payload's shape is @kiln/contracts' `renderJobSchema`; the API builds it (apps/api intake),
 * every other reader parses it with {@link readJobData}.
 */
import { renderJobSchema, type RenderJobData, type RenderJobResult } from '@kiln/contracts';
import type { Job } from 'bullmq';

export const RENDER_QUEUE = 'render';

/** BullMQ priorities: lower runs first; jobs without a priority run before all prioritized ones. */
export const PRIORITY = { interactive: undefined, async: 5, batch: 10 } as const;

/** A render job as BullMQ holds it. */
export type RenderJob = Job<RenderJobData, RenderJobResult>;

/** A job payload that does not parse: written by another version of Kiln, or by hand. */
export class MalformedJobError extends Error {
  override readonly name = 'MalformedJobError';
}

/** A job's payload, parsed with the job schema; throws {@link MalformedJobError} when it does not fit. */
export function readJobData(job: { id?: string; data: unknown }): RenderJobData {
  const parsed = renderJobSchema.safeParse(job.data);
  if (!parsed.success) throw new MalformedJobError(`job ${job.id} has a malformed payload: ${parsed.error.message}`);
  return parsed.data;
}
