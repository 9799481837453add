/** Starts a benchmark Kiln server (probes/serve.probe.ts) in a child process and stops it cleanly. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { API_NODE_FLAGS } from '@kiln/api';
import { loadConfig, redisKeyPrefix } from '@kiln/config';
import { createRedis, deleteKeysMatching } from '@kiln/queue';
import { processCpuMs } from './machine.js';
import { BENCH_DIST, BENCH_MODELS_DIR } from './paths.js';

const READY = 'KILN_BENCH_READY ';

export interface KilnServer {
  url: string;
  /** The queue prefix of this server's Redis keys (removed on stop). */
  prefix: string;
  redisUrl: string | undefined;
  /** CPU time the server process has used so far, in ms (Linux; undefined elsewhere). */
  cpuMs(): number | undefined;
  stop(): Promise<void>;
}

/**
 * Deletes every Redis key of the Kiln with queue prefix `prefix` (as its keys carry it: `{prefix}` on
 * a Redis Cluster). SCAN, on every master of a cluster, so a big queue does not block Redis.
 */
export async function deleteRedisPrefix(redisUrl: string | undefined, prefix: string): Promise<void> {
  const redis = createRedis(redisUrl);
  try {
    await deleteKeysMatching(redis, `${redisKeyPrefix(prefix, redisUrl)}:*`);
  } finally {
    redis.disconnect();
  }
}

/**
 * A benchmark server: Kiln's (probes/serve.probe.ts) or, with `probe: 'express-floor'`, the minimal
 * Express app of item 4 (probes/express-floor.probe.ts), on its own queue prefix and data folder.
 */
export async function startKilnServer(options: {
  model: string;
  worker?: boolean;
  env?: Record<string, string>;
  probe?: 'serve' | 'express-floor';
}): Promise<KilnServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-bench-'));
  const prefix = `kiln-bench-${randomBytes(4).toString('hex')}`;
  const redisUrl = loadConfig().redisUrl;
  const env = {
    ...process.env,
    PORT: '0',
    KILN_DATA_DIR: dataDir,
    KILN_MODELS_DIR: BENCH_MODELS_DIR,
    KILN_SD15_MODEL: options.model,
    KILN_QUEUE_PREFIX: prefix,
    KILN_ALLOW_ANY_RESOLUTION: '1',
    ...options.env,
  };
  // Launched as npm start and the Dockerfile launch Kiln's API; item 4's minimal app alike, like for like.
  const args = [...API_NODE_FLAGS, path.join(BENCH_DIST, `probes/${options.probe ?? 'serve'}.probe.js`)];
  if (options.worker === false) args.push('--no-worker');
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Its logs (Kiln's default level: a line per request and per job, as a deployment writes them) are read and dropped.
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (line.startsWith(READY)) resolve((JSON.parse(line.slice(READY.length)) as { url: string }).url);
    });
    exited.then((code) => reject(new Error(`benchmark server exited with code ${code} before it was ready`)));
  });
  return {
    url,
    prefix,
    redisUrl,
    cpuMs: () => processCpuMs(child.pid),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      await deleteRedisPrefix(redisUrl, prefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
