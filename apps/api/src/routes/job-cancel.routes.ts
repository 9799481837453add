/**
 * `POST /v1/jobs/{id}/cancel`: a waiting job ends `canceled` at once (200, the job); a running
 * one is stopped by its worker at its next denoising step (202, the job with
 * `cancel_requested: true`; poll it). A job that has already ended → 409 `conflict`.
 * Another tenant's job → 404. With an `Idempotency-Key`, a retried cancel answers like the first
 * one did instead of 409.
 */
import { FINAL_JOB_STATUSES, KilnError } from '@kiln/contracts';
import { cancelJob } from '@kiln/jobs';
import { Router } from 'express';
import { callerOf } from '../auth.js';
import { baseUrlOf } from '../base-url.js';
import type { ApiDeps } from '../deps.js';
import { createOnce } from '../idempotency.js';
import { jobDocument, ownView } from '../job-views.js';

export function jobCancelRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.post('/v1/jobs/:id/cancel', async (req, res) => {
    const caller = callerOf(res);
    const id = req.params.id;
    const owned = () => ownView(deps.queue, id, caller.tenant);
    await owned();
    await createOnce(
      deps,
      req,
      res,
      async () => {
        // A job canceled while waiting has its end (usage, webhook, batch count) recorded here.
        const outcome = await cancelJob(deps.redis, deps.jobs, id);
        if (outcome === 'missing') throw new KilnError('not_found', `no job ${id}`);
        if (outcome === 'finished') {
          throw new KilnError(
            'conflict',
            `job ${id} has already ended (${(await owned()).status}); there is nothing to cancel`,
            { jobId: id },
          );
        }
        return id;
      },
      {},
    );
    const view = await owned();
    // 200: the job has ended (canceled now, or by the request this one replays); 202: stopping.
    res
      .status(FINAL_JOB_STATUSES.includes(view.status) ? 200 : 202)
      .json(await jobDocument(view, deps.redis, deps.queue, baseUrlOf(req, deps.config)));
  });

  return router;
}
