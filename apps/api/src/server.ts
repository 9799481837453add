import type { KilnConfig, Logger } from '@kiln/config';
import { createJobServices } from '@kiln/jobs';
import { createRedis, createRenderQueueEvents } from '@kiln/queue';
import { createStore } from '@kiln/storage';
import { WebhookSecrets } from '@kiln/webhooks';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.js';
import { KeyRing } from './auth.js';
import { ModelCatalog, type ApiDeps } from './deps.js';
import { MemoryAdmission } from './memory-admission.js';
import { failFastRedisOptions, untilReady } from './redis-gate.js';

export interface ApiServer {
  server: Server;
  url: string;
  deps: ApiDeps;
  close(): Promise<void>;
}

/** Opens Redis, the queue and storage, and listens on the configured host and port. */
export async function startApi({
  config,
  logger,
}: {
  config: Readonly<KilnConfig>;
  logger: Logger;
}): Promise<ApiServer> {
  const redis = createRedis(config.redisUrl, failFastRedisOptions(config));
  await untilReady(redis);
  const jobs = createJobServices(redis, config, logger);
  const eventsConnection = createRedis(config.redisUrl);
  const queueEvents = createRenderQueueEvents(eventsConnection, config.queuePrefix);
  await queueEvents.waitUntilReady();
  const deps: ApiDeps = {
    config,
    logger,
    redis,
    queue: jobs.queue,
    queueEvents,
    store: createStore(config.storage, config.dataDir),
    keys: config.keysFile
      ? new KeyRing(config.keysFile, (err) =>
          logger.error({ err: err.message }, 'keys file not reloaded; the last good keys stay in use'),
        )
      : undefined,
    models: new ModelCatalog(config),
    jobs,
    secrets: new WebhookSecrets({ keysFile: config.keysFile, localSecret: config.webhookSecret }),
    memory: new MemoryAdmission({ redis, config }),
  };
  const app = createApp(deps);
  // Deadlines on receiving a request: its headers, then its body (body-limits.ts enforces the
  // body's per route; Node's requestTimeout is the backstop). None on answering it: sync requests
  // wait for their render. Node checks the deadlines every second instead of every 30.
  const server = createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.headersTimeoutMs + Math.max(config.bodyTimeoutMs, config.batchBodyTimeoutMs) + 1000,
      connectionsCheckingInterval: 1000,
    },
    app,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  return {
    server,
    url,
    deps,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queueEvents.close();
      await jobs.close();
      eventsConnection.disconnect();
      redis.disconnect();
    },
  };
}
