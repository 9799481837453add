/** `GET /v1/workers` and `GET /v1/queue`: the fleet, for operator keys (docs/operations.md). */
import { Router } from 'express';
import { operatorOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { readQueue, readWorkers } from '../fleet-view.js';

export function fleetRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.get('/v1/workers', async (_req, res) => {
    operatorOf(res);
    res.json({ workers: await readWorkers(deps) });
  });
  router.get('/v1/queue', async (_req, res) => {
    operatorOf(res);
    res.json(await readQueue(deps));
  });
  return router;
}
