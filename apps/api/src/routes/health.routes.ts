import { buildOpenApiDocument } from '@kiln/contracts';
import { Router } from 'express';
import type { ApiDeps } from '../deps.js';

/** A worker counts as seen when it holds a BullMQ connection to the render queue. */
export function healthRoutes(deps: ApiDeps): Router {
  const router = Router();
  let openApi: unknown;

  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Answers at once while Redis is away: the API's connection neither queues nor waits for it.
  router.get('/readyz', async (_req, res) => {
    const redis =
      deps.redis.status === 'ready' &&
      (await deps.redis.ping().then(
        (r) => r === 'PONG',
        () => false,
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
