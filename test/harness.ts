/**
 * Real services for integration tests: a tiny model written by the testkit, a real Redis (with a
 * queue prefix of its own per harness, removed afterwards), the real API on an ephemeral port and
 * a real worker with its inference thread.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startApi, type ApiServer } from '@kiln/api';
import { createLogger, loadConfig, type KilnConfig } from '@kiln/config';
import { createRedis } from '@kiln/queue';
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
    await symlink(path.resolve(import.meta.dirname, 'fixtures', 'diffusers-tiny-sd15'), diffusers).catch(() => undefined);
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

export async function startHarness(env: Record<string, string> = {}, options: { worker?: boolean } = {}): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-it-'));
  const prefix = `kiln-test-${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    PORT: '0',
    KILN_DATA_DIR: dataDir,
    KILN_MODELS_DIR: await tinyModelsDir(),
    KILN_QUEUE_PREFIX: prefix,
    KILN_LOG_LEVEL: 'silent',
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
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
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
