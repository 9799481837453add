/**
 * `GET /metrics` in Prometheus' text format. Like the health probes it needs no API key (scrapers
 * rarely carry one) and shows no tenant's data, only fleet totals; keep it off the public
 * internet at your proxy if queue sizes are private.
 */
import { Router } from 'express';
import type { ApiDeps } from '../deps.js';
import { createMetricsRegistry } from '../metrics.js';

export function metricsRoutes(deps: ApiDeps): Router {
  const router = Router();
  const registry = createMetricsRegistry(deps);
  router.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}
