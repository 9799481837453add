import { buildOpenApiDocument, type Readiness } from '@kiln/contracts';
import { liveWorkers } from '@kiln/state';
import { Router } from 'express';
import type { ApiDeps } from '../deps.js';
import type { RedisGate } from '../redis-gate.js';

/** A worker counts as seen while its fleet heartbeat has not lapsed (GET /v1/workers). */
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
    const live = redis ? await liveWorkers(deps.redis, deps.config.queuePrefix).catch(() => []) : [];
    const workers = live.length;
    const ready = redis && workers > 0;
    const lastBeat = live
      .map((w) => w.last_heartbeat_at)
      .sort()
      .at(-1);
    const body: Readiness = {
      status: ready ? 'ready' : 'not_ready',
      checks: {
        redis: { ok: redis, ...(!redis && { detail: 'Redis does not answer' }) },
        worker: {
          ok: workers > 0,
          detail: lastBeat ? `${workers} live, last heartbeat ${lastBeat}` : 'no worker heartbeat within 3 intervals',
        },
      },
      redis,
      workers,
    };
    res.status(ready ? 200 : 503).json(body);
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
