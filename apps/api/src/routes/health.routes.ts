import { buildOpenApiDocument } from '@kiln/contracts';
import { Router } from 'express';
import type { ApiDeps } from '../deps.js';
import type { RedisGate } from '../redis-gate.js';

/** A worker counts as seen when it holds a BullMQ connection to the render queue. */
export function healthRoutes(deps: ApiDeps, gate: RedisGate): Router {
  const router = Router();
  let openApi: unknown;

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Answers at once while Redis is away: the API's connection neither queues nor waits for it.
  router.get('/readyz', async (_req, res) => {
    const redis =
      gate.open &&
      (await deps.redis.ping().then(
        (r) => r === 'PONG',
        (err: unknown) => {
          gate.failed(err);
          return false;
        },
      ));
    const workers = redis ? await deps.queue.getWorkersCount().catch(() => 0) : 0;
    const ready = redis && workers > 0;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', redis, workers });
  });

  router.get('/openapi.json', (_req, res) => {
    openApi ??= buildOpenApiDocument({
      serverUrl: deps.config.publicUrl,
      allowAnyResolution: deps.config.allowAnyResolution,
    });
    res.json(openApi);
  });

  return router;
}
