import { z } from 'zod';
import { JOB_STATUSES, jobSchema } from './jobs.schema.js';

/** Query of `GET /v1/jobs`. */
export const JOB_LIST_QUERY = {
  status: `Only jobs in these states: one or more of ${JOB_STATUSES.map((s) => `\`${s}\``).join(', ')}, comma-separated.`,
  batch_id: 'Only the items of this batch.',
  limit: 'Jobs per page, 1 to 200; default 50.',
  cursor: 'The `next_cursor` of the previous page.',
} as const;

/** The body of `GET /v1/jobs`. */
export const jobListSchema = z
  .object({
    jobs: z.array(jobSchema).describe("The caller's jobs, newest first."),
    next_cursor: z
      .string()
      .nullable()
      .describe(
        'Pass as `cursor` for the next page; null when there are no more jobs. A page can hold fewer than `limit` jobs ' +
          'and still have a cursor when a filter matched few of the jobs it looked at.',
      ),
  })
  .meta({ title: 'JobList', description: "A page of the caller's jobs." });

/** The body of `GET /v1/jobs`. */
export type JobList = z.output<typeof jobListSchema>;
