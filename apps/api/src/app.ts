import { KilnError } from '@kiln/contracts';
import express, { Router, type Express } from 'express';
import { authenticate } from './auth.js';
import { AuthFailureThrottle } from './auth-throttle.js';
import { bodyLimits } from './body-limits.js';
import type { ApiDeps } from './deps.js';
import { errorHandler } from './error-handler.js';
import { checkIdParams } from './id-params.js';
import { RedisGate } from './redis-gate.js';
import { useRequestLog } from './request-log.js';
import { generateRoutes } from './routes/generate.routes.js';
import { healthRoutes } from './routes/health.routes.js';
import { jobsRoutes } from './routes/jobs.routes.js';
import { jobCancelRoutes } from './routes/job-cancel.routes.js';
import { jobListRoutes } from './routes/job-list.routes.js';
import { stylePresetsRoutes } from './routes/style-presets.routes.js';
import { usageRoutes } from './routes/usage.routes.js';
import { metricsRoutes } from './routes/metrics.routes.js';
import { rateLimit } from './rate-limit.js';
import { batchesRoutes, isBatchUpload } from './routes/batches.routes.js';
import { assetsRoutes } from './routes/assets.routes.js';
import { webhooksRoutes } from './routes/webhooks.routes.js';
import { fleetRoutes } from './routes/fleet.routes.js';
import { uiRoutes } from './routes/ui.routes.js';
import { queueBoardRoutes, queueBoardSessionRoutes } from './routes/queue-board.routes.js';

/** The paths of the routes that need no key (matched as Express matches routes: any case, a trailing slash). */
const PUBLIC_PATHS = /^\/(healthz|readyz|openapi\.json|metrics|ui)(\/|$)/i;

/** Builds the Express app; it never listens (main.ts and tests do). */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Answers are `no-store` (below) and images are streamed: a hash of every JSON body buys nothing.
  app.set('etag', false);
  app.set('trust proxy', 'loopback');
  app.use((_req, res, next) => {
    // API answers are data for programs: never sniffed into something renderable, never cached
    // by a shared cache (routes that serve immutable images set their own Cache-Control).
    res.set({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store' });
    next();
  });
  useRequestLog(app, deps.logger);
  const gate = new RedisGate(deps.redis);
  const publicRoutes = Router().use(
    healthRoutes(deps, gate),
    metricsRoutes(deps),
    queueBoardRoutes(deps), // operators only: checks its own cookie (queue-board.routes.ts)
    uiRoutes({ localMode: !deps.keys }), // files without data: the page reads the API with the user's key
  );
  // Only requests for their paths pass through the public routers: an API request skips four
  // router passes, 5% of the API's CPU per submission (docs/benchmarks.md, item 4). A public
  // route outside these paths would need a key: the mistake fails closed.
  app.use((req, res, next) => (PUBLIC_PATHS.test(req.path) ? publicRoutes(req, res, next) : next()));
  // Who is calling is known before any body is read: an unknown caller's 30 MB is never parsed.
  app.use(authenticate(deps.keys, new AuthFailureThrottle(deps.config.authFailuresPerMinute)));
  app.use(checkIdParams());
  app.use(gate.middleware());
  // Before the body limits and JSON parser: uploads stream under their own limits. Mounted at its
  // path, so that other requests do not pass through its router.
  app.use('/v1/assets', assetsRoutes(deps));
  app.use(bodyLimits(deps.config, isBatchUpload));
  app.use(rateLimit(deps));
  // A batch upload is read as it streams (batches.routes.ts), under its own, larger limit.
  const jsonBody = (req: express.Request) =>
    !isBatchUpload(req) && Boolean(req.is(['application/json', 'application/*+json']));
  app.use(express.json({ limit: deps.config.maxBodyBytes, type: (req) => jsonBody(req as express.Request) }));
  app.use((req, _res, next) => {
    if (req.method === 'POST' && req.path.startsWith('/generate/') && !req.is('application/json')) {
      return next(new KilnError('unsupported_media_type', 'send the request as Content-Type: application/json'));
    }
    next();
  });
  app.use(generateRoutes(deps));
  app.use(jobsRoutes(deps));
  app.use(jobListRoutes(deps));
  app.use(jobCancelRoutes(deps));
  app.use(usageRoutes(deps));
  app.use(stylePresetsRoutes());
  app.use(batchesRoutes(deps));
  app.use(webhooksRoutes(deps));
  app.use(queueBoardSessionRoutes(deps));
  app.use(fleetRoutes(deps));
  app.use((req, _res, next) => next(new KilnError('not_found', `no route ${req.method} ${req.path}`)));
  app.use(errorHandler(deps.logger, gate));
  return app;
}
