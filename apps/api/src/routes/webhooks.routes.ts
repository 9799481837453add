/**
 * `GET /v1/jobs/{id}/webhooks`: the job's webhook messages and every delivery attempt (time,
 * status code or error, duration, attempt number). Another tenant's job answers 404.
 */
import { KilnError } from '@kiln/contracts';
import { groupDeliveries, readAttempts } from '@kiln/webhooks';
import { Router } from 'express';
import { callerOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';

export function webhooksRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.get('/v1/jobs/:id/webhooks', async (req, res) => {
    const job = await deps.queue.getJob(req.params.id);
    if (!job || job.data.tenant !== callerOf(res).tenant) throw new KilnError('not_found', `no job ${req.params.id}`);
    const attempts = await readAttempts(deps.redis, deps.config.queuePrefix, { kind: 'job', id: job.id as string });
    res.json({ id: job.id, deliveries: groupDeliveries(attempts) });
  });

  return router;
}
