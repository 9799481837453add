/**
 * A Kiln server for the benchmarks, in a process of its own as `kiln start` runs it: API + one
 * worker (or the API alone with --no-worker), configured by the environment the runner passes.
 * Prints `KILN_BENCH_READY {"url": …}` when ready (among the logs, at Kiln's default level unless
 * the environment says otherwise); SIGTERM stops it the way `kiln start` stops.
 */
import { startApi } from '@kiln/api';
import { createLogger, loadConfig } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';

const config = loadConfig();
const logger = createLogger('bench-server', config.logLevel);
const worker = process.argv.includes('--no-worker') ? undefined : await startRenderWorker({ config, logger });
const api = await startApi({ config, logger });
process.stdout.write(`KILN_BENCH_READY ${JSON.stringify({ url: api.url })}\n`);

process.once('SIGTERM', async () => {
  await api.close();
  await worker?.close();
  process.exit(0);
});
