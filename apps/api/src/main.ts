import { createLogger, loadConfig } from '@kiln/config';
import { startApi } from './server.js';

const config = loadConfig();
const logger = createLogger('kiln-api', config.logLevel);
const api = await startApi({ config, logger });
logger.info({ url: api.url, localMode: config.localMode }, 'API listening');
if (config.localMode)
  logger.warn('local mode: no KILN_KEYS_FILE, bound to loopback only, every caller is tenant "local"');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, async () => {
    await api.close();
    process.exit(0);
  });
}
