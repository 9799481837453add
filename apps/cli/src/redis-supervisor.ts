/**
 * `kiln start` needs a Redis: REDIS_URL if set, else one on 127.0.0.1:6379, else a local
 * `redis-server` started as a child process with its data under `<data>/redis` (README.md, "Commands").
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_REDIS_URL, pingRedis } from '@kiln/queue';
import type { Logger } from '@kiln/config';

export interface RedisHandle {
  url: string;
  /** The redis-server we started, if we did. */
  child?: ChildProcess;
  stop(): Promise<void>;
}

const hasRedisServer = () => spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;

function installRedisServer(logger: Logger): boolean {
  if (process.getuid?.() !== 0 || spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status !== 0) {
    return false;
  }
  logger.warn('redis-server is not installed: installing the Debian package redis-server');
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  const install = spawnSync(
    'env',
    ['DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', '-qq', 'redis-server'],
    {
      stdio: 'inherit',
    },
  );
  return update.status === 0 && install.status === 0;
}

async function waitFor(url: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await pingRedis(url, 500)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export async function ensureRedis(redisUrl: string | undefined, dataDir: string, logger: Logger): Promise<RedisHandle> {
  const noop = async () => undefined;
  if (redisUrl) {
    if (!(await pingRedis(redisUrl, 2000))) throw new Error(`REDIS_URL=${redisUrl} does not answer`);
    return { url: redisUrl, stop: noop };
  }
  if (await pingRedis(DEFAULT_REDIS_URL)) return { url: DEFAULT_REDIS_URL, stop: noop };
  if (!hasRedisServer() && !installRedisServer(logger)) {
    throw new Error(
      'no Redis answers on 127.0.0.1:6379 and redis-server is not installed: `sudo apt-get install redis-server`, or set REDIS_URL',
    );
  }
  const dir = path.join(dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  logger.info({ dir }, 'starting a local redis-server on 127.0.0.1:6379');
  // AOF on and noeviction: a queue must never lose or evict jobs.
  const child = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      '6379',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
    ],
    { stdio: 'ignore', detached: false },
  );
  if (!(await waitFor(DEFAULT_REDIS_URL, 10_000))) {
    child.kill();
    throw new Error('started redis-server but it does not answer on 127.0.0.1:6379');
  }
  return {
    url: DEFAULT_REDIS_URL,
    child,
    async stop() {
      child.kill('SIGTERM');
    },
  };
}
