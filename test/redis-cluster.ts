/**
 * A real Redis Cluster on loopback for tests: Debian's `redis-server` in cluster mode, three
 * masters and no replicas, data in a temporary folder and nothing persisted, joined with
 * `redis-cli --cluster create`. `url` is the `redis-cluster://` URL Kiln takes in REDIS_URL.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { exited, freePort, pollUntil } from './harness.js';

const run = promisify(execFile);

export interface RedisCluster {
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` */
  url: string;
  ports: number[];
  /** SIGSTOPs every node: connections stay open and nothing answers (a hung cluster). */
  freeze(): void;
  /** SIGCONTs them after {@link RedisCluster.freeze}. */
  thaw(): void;
  stop(): Promise<void>;
}

/** `redis-cli -p port args…`, its output trimmed. */
async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.trim();
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-redis-cluster-'));
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  const thaw = () => children.forEach((child) => child.kill('SIGCONT'));
  const stop = async () => {
    thaw(); // a stopped process dies of SIGKILL only once it runs again
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(children.map((child) => exited(child, 5000)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      // The bus port is chosen too: the default (port + 10000) may be above 65535 for an ephemeral port.
      const [port, busPort] = [await freePort(), await freePort()];
      const child = spawn(
        'redis-server',
        [
          ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
          ...['--cluster-enabled', 'yes', '--cluster-port', String(busPort)],
          ...['--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'],
          ...['--save', '', '--appendonly', 'no'],
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
      ports.push(port);
    }
    for (const port of ports) {
      await pollUntil(
        async () => ((await cli(port, 'PING').catch(() => '')) === 'PONG' ? true : undefined),
        10_000,
        50,
      );
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    // Every node must agree that all 16384 slots are served before a client may trust the layout.
    for (const port of ports) {
      await pollUntil(
        async () => ((await cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok') ? true : undefined),
        20_000,
        100,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `redis-cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    ports,
    freeze: () => children.forEach((child) => child.kill('SIGSTOP')),
    thaw,
    stop,
  };
}
