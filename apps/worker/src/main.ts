import { createLogger, loadConfig } from '@kiln/config';
import { startRenderWorker } from './render-worker.js';

const config = loadConfig();
const logger = createLogger('kiln-worker', config.logLevel);
const { close } = await startRenderWorker({ config, logger }).catch((err: Error) => {
  // e.g. KILN_EXECUTION_PROVIDER=cuda on a host without CUDA: the message says what to install
  logger.fatal({ err: err.message }, 'worker cannot start');
  process.exit(1);
});
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
