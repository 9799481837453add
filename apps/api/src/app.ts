import { KilnError } from '@kiln/contracts';
import express, { type Express } from 'express';
import { pinoHttp } from 'pino-http';
import { randomUUID } from 'node:crypto';
import { authenticate } from './auth.js';
import type { ApiDeps } from './deps.js';
import { errorHandler } from './error-handler.js';
import { generateRoutes } from './routes/generate.routes.js';
import { healthRoutes } from './routes/health.routes.js';
import { jobsRoutes } from './routes/jobs.routes.js';
import { jobCancelRoutes } from './routes/job-cancel.routes.js';
import { jobListRoutes } from './routes/job-list.routes.js';
import { usageRoutes } from './routes/usage.routes.js';
import { metricsRoutes } from './routes/metrics.routes.js';
import { rateLimit } from './rate-limit.js';
import { batchesRoutes, isBatchUpload } from './routes/batches.routes.js';
import { webhooksRoutes } from './routes/webhooks.routes.js';

/** Builds the Express app; it never listens (main.ts and tests do). */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (req) => (req.headers['x-request-id'] as string) || randomUUID(),
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
    }),
  );
  app.use(healthRoutes(deps));
  app.use(metricsRoutes(deps));
  // A batch upload is read as it streams (batches.routes.ts), under its own, larger limit.
  const jsonBody = (req: express.Request) => !isBatchUpload(req) && Boolean(req.is(['application/json', 'application/*+json']));
  app.use(express.json({ limit: deps.config.maxBodyBytes, type: (req) => jsonBody(req as express.Request) }));
  app.use(authenticate(deps.keys));
  app.use(rateLimit(deps));
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
  app.use(batchesRoutes(deps));
  app.use(webhooksRoutes(deps));
  app.use((req, _res, next) => next(new KilnError('not_found', `no route ${req.method} ${req.path}`)));
  app.use(errorHandler(deps.logger));
  return app;
}
