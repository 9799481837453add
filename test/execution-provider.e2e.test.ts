/**
 * `kiln worker` with a GPU provider this machine cannot load (no CUDA provider files, no Vulkan):
 * it refuses to start, with an error naming what is missing, rather than rendering
 * on the CPU. With `auto` it starts on the CPU, and its fleet entry (GET /v1/workers) names `cpu`,
 * the provider chosen, not `auto`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { redisKeyPrefix } from '@kiln/config';
import { createRedis } from '@kiln/queue';
import { liveWorkers } from '@kiln/state';
import { describe, expect, it } from 'vitest';
import { spawnWorker } from './fault-workers.js';
import { pollUntil, tinyModelsDir } from './harness.js';

const ortBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')),
  'bin/napi-v6',
  process.platform,
  process.arch,
);
const cudaInstalled = existsSync(path.join(ortBin, 'libonnxruntime_providers_cuda.so'));

async function startWorker(provider: string, prefix = `kiln-test-${randomBytes(4).toString('hex')}`) {
  return spawnWorker({
    KILN_EXECUTION_PROVIDER: provider,
    KILN_QUEUE_PREFIX: prefix,
    KILN_MODELS_DIR: await tinyModelsDir(),
    KILN_INTRA_OP_THREADS: '1',
  });
}

describe('kiln worker and KILN_EXECUTION_PROVIDER', () => {
  it.skipIf(cudaInstalled)('cuda without its provider files: exits 1 naming the missing files', async () => {
    const worker = await startWorker('cuda');
    await pollUntil(async () => (worker.alive() ? undefined : true), 60_000, 100);
    // `kiln worker` prints the error as `kiln: <message>` and exits non-zero
    const fatal = worker.logs.find((line) => line.startsWith('kiln: KILN_EXECUTION_PROVIDER=cuda'));
    expect(fatal, worker.logs.join('\n')).toBeDefined();
    expect(fatal).toMatch(/missing libonnxruntime_providers_cuda\.so.*ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(worker.ready()).toBe(false);
  });

  it('auto starts on the CPU and its fleet entry names cpu, the provider chosen', async () => {
    const prefix = `kiln-test-${randomBytes(4).toString('hex')}`;
    const worker = await startWorker('auto', prefix);
    const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    try {
      await worker.waitReady();
      const chose = async () => worker.logs.some((line) => line.includes('"provider":"auto"')) || undefined;
      expect(await pollUntil(chose, 5000)).toBe(true);
      // The worker loads its default model before it announces itself: the choice is made by then.
      const [entry] = await pollUntil(async () => {
        // The worker's keys carry the prefix as a hash tag on a Redis Cluster (npm run test:cluster).
        const workers = await liveWorkers(redis, redisKeyPrefix(prefix, process.env.REDIS_URL));
        return workers.length > 0 ? workers : undefined;
      }, 30_000);
      expect(entry.execution_provider).toBe('cpu');
    } finally {
      await worker.stop(5000);
      redis.disconnect();
    }
  });
});
