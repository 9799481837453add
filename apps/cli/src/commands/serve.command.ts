import { existsSync } from 'node:fs';
import path from 'node:path';
import { startApi } from '@kiln/api';
import { createLogger, loadConfig, type KilnConfig, type Logger } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';
import { ensureRedis } from '../redis-supervisor.js';
import { RANDOM_WEIGHTS_MARKER } from './models.command.js';

function warnIfRandomWeights(config: Readonly<KilnConfig>, logger: Logger): void {
  const defaults = [
    { family: 'SD1.5', variable: 'KILN_SD15_MODEL', name: config.sd15Model },
    { family: 'SD3', variable: 'KILN_SD3_MODEL', name: config.sd3Model },
  ];
  for (const { family, variable, name } of defaults) {
    if (!name) continue;
    const dir = path.join(config.modelsDir, name);
    if (!existsSync(path.join(dir, RANDOM_WEIGHTS_MARKER))) continue;
    const banner = '!'.repeat(78);
    // Plain text on stderr as well as the structured log: people read this, not log collectors.
    console.error(
      `${banner}\n  The default ${family} model ${dir} has RANDOM weights: every image it makes is noise.\n` +
        `  Install a real ${family} ONNX model (README, "Installing real weights") and set ${variable}.\n${banner}`,
    );
    logger.warn({ model: dir }, `the default ${family} model has random weights: its images are noise`);
  }
}

function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      stop().finally(() => process.exit(0));
    });
  }
}

/** `kiln start`: Redis (found or started) + API + one worker, in one process. */
export async function startCommand(): Promise<void> {
  const base = loadConfig();
  const logger = createLogger('kiln', base.logLevel);
  const redis = await ensureRedis(base.redisUrl, base.dataDir, logger);
  const config = Object.freeze({ ...base, redisUrl: redis.url });
  warnIfRandomWeights(config, logger);
  const worker = await startRenderWorker({ config, logger: logger.child({ role: 'worker' }) });
  const api = await startApi({ config, logger: logger.child({ role: 'api' }) });
  logger.info({ url: api.url, model: config.sd15Model }, `Kiln is up: ${api.url}`);
  if (config.localMode)
    logger.warn('local mode: no KILN_KEYS_FILE, so Kiln listens on loopback only and every caller is tenant "local"');
  onShutdown(async () => {
    await api.close();
    await worker.close();
    await redis.stop();
  });
}

export async function apiCommand(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('kiln-api', config.logLevel);
  const api = await startApi({ config, logger });
  logger.info({ url: api.url }, 'API listening');
  if (config.localMode) logger.warn('local mode: loopback only, every caller is tenant "local"');
  onShutdown(() => api.close());
}

export async function workerCommand(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('kiln-worker', config.logLevel);
  warnIfRandomWeights(config, logger);
  const worker = await startRenderWorker({ config, logger });
  logger.info({ model: config.sd15Model, provider: config.executionProvider }, 'worker ready');
  onShutdown(() => worker.close());
}
