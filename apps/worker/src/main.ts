import { createLogger, loadConfig } from '@kiln/config';
import { startRenderWorker } from './render-worker.js';

const config = loadConfig();
const logger = createLogger('kiln-worker', config.logLevel);
const { close } = await startRenderWorker({ config, logger });
logger.info({ model: config.sd15Model, provider: config.executionProvider }, 'worker ready');

let stopping = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping: finishing the current job');
    await close();
    process.exit(0);
  });
}
