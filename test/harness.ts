/**
 * Real services for integration tests: a tiny model written by the testkit, a real Redis (with a
 * queue prefix of its own per harness, removed afterwards), the real API on an ephemeral port and
 * a real worker with its inference thread.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startApi, type ApiServer } from '@kiln/api';
import { createLogger, loadConfig, redisKeyPrefix, type KilnConfig } from '@kiln/config';
import { createRedis, deleteKeysMatching, pingRedis } from '@kiln/queue';
import { makeTinySd15Model, type MakeSd15ModelOptions } from '@kiln/testkit';
import { startRenderWorker, type RenderWorker } from '@kiln/worker';

const MODEL_CACHE = path.resolve(import.meta.dirname, '.tmp', 'models');

/**
 * A testkit model under test/.tmp/models/<name>, written once and shared by the test files
 * (written to a staging folder and renamed, so concurrent test files never see half a model).
 */
export async function ensureTestModel(name: string, options: MakeSd15ModelOptions = {}): Promise<string> {
  const dir = path.join(MODEL_CACHE, name);
  if (!existsSync(path.join(dir, 'model_index.json'))) {
    const staging = `${dir}.${process.pid}.${randomBytes(3).toString('hex')}`;
    await makeTinySd15Model(staging, { seed: 0, ...options });
    await mkdir(MODEL_CACHE, { recursive: true });
    await rename(staging, dir).catch(() => rm(staging, { recursive: true, force: true }));
  }
  return dir;
}

/** The models folder of the harness: `tiny-sd15` (the default) and `diffusers-tiny` (diffusers' own export). */
export async function tinyModelsDir(): Promise<string> {
  await ensureTestModel('tiny-sd15');
  const diffusers = path.join(MODEL_CACHE, 'diffusers-tiny');
  if (!existsSync(diffusers)) {
    await symlink(path.resolve(import.meta.dirname, 'fixtures', 'diffusers-tiny-sd15'), diffusers).catch(
      () => undefined,
    );
  }
  return MODEL_CACHE;
}

export interface Harness {
  config: Readonly<KilnConfig>;
  api: ApiServer;
  worker: RenderWorker | undefined;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startHarness(
  env: Record<string, string> = {},
  options: { worker?: boolean } = {},
): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-it-'));
  const prefix = `kiln-test-${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    PORT: '0',
    KILN_DATA_DIR: dataDir,
    KILN_MODELS_DIR: await tinyModelsDir(),
    KILN_QUEUE_PREFIX: prefix,
    KILN_LOG_LEVEL: 'silent',
    // The Redis of the run (a cluster under `npm run test:cluster`); 127.0.0.1:6379 when unset.
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
    ...env,
  });
  const logger = createLogger('test', config.logLevel);
  const worker = options.worker === false ? undefined : await startRenderWorker({ config, logger });
  const api = await startApi({ config, logger });
  return {
    config,
    api,
    worker,
    url: api.url,
    dataDir,
    async stop() {
      await api.close();
      await worker?.close();
      const redis = createRedis(config.redisUrl);
      // config.queuePrefix: the prefix as keys carry it (`{kiln-test-…}` on a cluster).
      await deleteKeysMatching(redis, `${config.queuePrefix}:*`);
      redis.disconnect();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export async function getJson(url: string) {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

export async function pollUntil<T>(fn: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('pollUntil: timed out');
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// ---------------------------------------------------------------------------------------------
// Real processes on loopback: the API as users run it (`kiln api`, built), a private redis-server,
// and raw HTTP for what fetch cannot do (slow bodies, lying Content-Length, half-sent headers).

const KILN_BIN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

/** A TCP port free on loopback right now. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether the process has exited, waiting up to `timeoutMs` for it. */
/** Appends every complete line a child process writes (stdout and stderr) to `logs`. */
export function collectLines(child: ChildProcess, logs: string[]): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const lines = (rest + text).split('\n');
      rest = lines.pop() ?? '';
      logs.push(...lines);
    });
  }
}

export async function exited(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  /** SIGKILLs the server (an outage, not a clean shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder (its append-only file restores the data). */
  start(): Promise<void>;
  /** SIGSTOPs it: connections stay open and nothing answers (a hung Redis). */
  freeze(): void;
  /** SIGCONTs it after {@link freeze}. */
  thaw(): void;
  stop(): Promise<void>;
}

/** A redis-server of its own on a spare loopback port, append-only with fsync on every write. */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--dir',
    dir,
  ];
  const server: RedisServer = {
    url,
    port,
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      await pollUntil(async () => ((await pingRedis(url, 200)) ? true : undefined), 10_000, 50);
    },
    freeze() {
      child?.kill('SIGSTOP');
    },
    thaw() {
      child?.kill('SIGCONT');
    },
    async kill() {
      child?.kill('SIGCONT'); // a frozen process does not die of SIGKILL before it runs again
      child?.kill('SIGKILL');
      if (child) await exited(child, 5000);
    },
    async stop() {
      await server.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface ApiProcess {
  url: string;
  port: number;
  /** The current process (a new one after {@link ApiProcess.restart}). */
  child: ChildProcess;
  prefix: string;
  /** Its storage folder: workers serving this API use the same one. */
  dataDir: string;
  /** Every line the process wrote to stdout and stderr so far (its JSON log). */
  logs: string[];
  alive(): boolean;
  /** SIGKILLs the process (a crash, no shutdown) and starts it again on the same port, prefix and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `kiln api` in a process of its own (the built CLI, as `npm test` builds it), with a queue prefix
 * and data folder of its own, logging at info to a buffer the test can read.
 */
export async function startApiProcess(env: Record<string, string> = {}): Promise<ApiProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-api-'));
  const prefix = `kiln-test-${randomBytes(4).toString('hex')}`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const fullEnv: Record<string, string | undefined> = {
    ...process.env,
    PORT: String(port),
    KILN_DATA_DIR: dataDir,
    KILN_MODELS_DIR: await tinyModelsDir(),
    KILN_QUEUE_PREFIX: prefix,
    KILN_LOG_LEVEL: 'info',
    ...env,
  };
  const logs: string[] = [];
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(process.execPath, [KILN_BIN, 'api'], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    collectLines(child, logs);
    const up = () => child.exitCode === null && child.signalCode === null;
    try {
      await pollUntil(
        async () => {
          if (!up()) throw new Error(`kiln api exited (${child.exitCode ?? child.signalCode}):\n${logs.join('\n')}`);
          return (
            (await fetch(`${url}/healthz`).then(
              (r) => r.ok,
              () => false,
            )) || undefined
          );
        },
        30_000,
        50,
      );
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
    return child;
  };
  let child = await launch();
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    url,
    port,
    get child() {
      return child;
    },
    prefix,
    dataDir,
    logs,
    alive,
    async restart() {
      child.kill('SIGKILL');
      await exited(child, 5000);
      child = await launch();
    },
    async stop() {
      child.kill('SIGTERM');
      if (!(await exited(child, 5000))) child.kill('SIGKILL');
      const redis = createRedis(fullEnv.REDIS_URL, {
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        retryStrategy: () => null,
      });
      redis.on('error', () => undefined);
      try {
        await redis.connect();
        await deleteKeysMatching(redis, `${redisKeyPrefix(prefix, fullEnv.REDIS_URL)}:*`);
      } catch {
        // that Redis is gone (an outage test stopped it): nothing to clean
      } finally {
        redis.disconnect();
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RawReply {
  /** The status of the first response, if one came. */
  status: number | undefined;
  /** Its header block, lower-cased names. */
  headers: Record<string, string>;
  body: string;
  /** Milliseconds from connecting to the first response byte (undefined: none came). */
  answeredMs: number | undefined;
  /** Milliseconds from connecting until the server closed the connection (undefined: still open). */
  closedMs: number | undefined;
}

export interface RawOptions {
  /** Bytes sent right after the head. */
  body?: Buffer | string;
  /** Then one byte of this every `intervalMs`, until the connection closes. */
  trickle?: { intervalMs: number };
  /** Give up waiting (the connection is then destroyed by the client) after this long. */
  waitMs?: number;
  /** Resolve as soon as a whole response has come, without waiting for the close. */
  untilResponse?: boolean;
  /** Write `head` exactly as given (no line-ending fix-up, no blank line after it). */
  headAsIs?: boolean;
}

/** One HTTP/1.1 exchange over a plain socket, with the request head written as given. */
export function rawRequest(url: string, head: string, options: RawOptions = {}): Promise<RawReply> {
  const { port, hostname } = new URL(url);
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    let answeredMs: number | undefined;
    let trickle: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (closedMs: number | undefined) => {
      if (done) return;
      done = true;
      clearInterval(trickle);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ ...parseRaw(Buffer.concat(chunks).toString('latin1')), answeredMs, closedMs });
    };
    const giveUp = setTimeout(() => finish(undefined), options.waitMs ?? 10_000);
    socket.on('connect', () => {
      socket.write(options.headAsIs ? head : head.replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '\r\n\r\n'));
      if (options.body !== undefined) socket.write(options.body);
      if (options.trickle) {
        trickle = setInterval(() => {
          if (!socket.destroyed && socket.writable) socket.write('x');
        }, options.trickle.intervalMs);
      }
    });
    socket.on('data', (chunk) => {
      answeredMs ??= performance.now() - started;
      chunks.push(chunk);
      if (options.untilResponse && parseRaw(Buffer.concat(chunks).toString('latin1')).complete) finish(undefined);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => finish(performance.now() - started));
  });
}

function parseRaw(text: string): Omit<RawReply, 'answeredMs' | 'closedMs'> & { complete: boolean } {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return { status: undefined, headers: {}, body: '', complete: false };
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = text.slice(end + 4);
  const length = Number(headers['content-length'] ?? NaN);
  return {
    status: Number(statusLine!.split(' ')[1]),
    headers,
    body,
    complete: Number.isFinite(length) && body.length >= length,
  };
}
