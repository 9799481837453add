/** `GET /v1/jobs`: the caller's jobs, newest first, paged, filtered by status and batch. */
import { JOB_STATUSES, type JobStatus } from '@kiln/contracts';
import { decodeCursor } from '@kiln/state';
import { Router } from 'express';
import { callerOf } from '../auth.js';
import { baseUrlOf } from '../base-url.js';
import type { ApiDeps } from '../deps.js';
import { listJobs } from '../job-listing.js';
import { QueryValidationError, queryInt, queryString } from '../query-params.js';

export const JOB_LIST_DEFAULT_LIMIT = 50;
export const JOB_LIST_MAX_LIMIT = 200;

export function jobListRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.get('/v1/jobs', async (req, res) => {
    const query = req.query as Record<string, unknown>;
    const statusText = queryString(query, 'status');
    const statuses = statusText
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    for (const status of statuses ?? []) {
      if (!(JOB_STATUSES as readonly string[]).includes(status)) {
        throw new QueryValidationError(
          'status',
          `unknown status ${JSON.stringify(status)}; one or more (comma-separated) of ${JOB_STATUSES.join(', ')}`,
        );
      }
    }
    const cursor = queryString(query, 'cursor');
    if (cursor !== undefined && !decodeCursor(cursor))
      throw new QueryValidationError('cursor', 'not a cursor this API handed out');
    const batchId = queryString(query, 'batch_id');
    if (batchId !== undefined && !/^[A-Za-z0-9._:-]{1,200}$/.test(batchId))
      throw new QueryValidationError('batch_id', 'not a batch id');
    const limit = queryInt(query, 'limit', JOB_LIST_DEFAULT_LIMIT, 1, JOB_LIST_MAX_LIMIT);
    res.json(
      await listJobs(
        deps,
        callerOf(res),
        { statuses: statuses as JobStatus[] | undefined, batchId, limit, cursor },
        baseUrlOf(req, deps.config),
      ),
    );
  });

  return router;
}
