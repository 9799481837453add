/**
 * Logs as operators get them from real `kiln api` and `kiln worker` processes: JSON lines;
 * the access line of a request carries its request id, tenant, key id and the job it created;
 * the worker's lines for that job carry the same job id and tenant; no line anywhere holds the
 * bearer token, the prompt (log_prompt not set) or the base64 of an input image.
 */
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnWorker, type WorkerProcess } from './fault-workers.js';
import { pollUntil, startApiProcess, tinyModelsDir, type ApiProcess } from './harness.js';
import { client, keysFileWith, newKey } from './tenancy-helpers.js';

const key = newKey('k-logs', 'tenant-logs');
let api: ApiProcess;
let worker: WorkerProcess;

beforeAll(async () => {
  api = await startApiProcess({
    KILN_KEYS_FILE: await keysFileWith([key]),
    KILN_HOST: '127.0.0.1',
    KILN_ALLOW_ANY_RESOLUTION: '1',
  });
  worker = spawnWorker({
    KILN_QUEUE_PREFIX: api.prefix,
    KILN_DATA_DIR: api.dataDir,
    KILN_MODELS_DIR: await tinyModelsDir(),
    KILN_INTRA_OP_THREADS: '1',
  });
  await worker.waitReady();
});
afterAll(async () => {
  await worker?.stop(5000);
  await api?.stop();
});

const json = (lines: string[]) =>
  lines.map((line) => {
    expect(() => JSON.parse(line), line).not.toThrow();
    return JSON.parse(line) as Record<string, any>;
  });

describe('logs', () => {
  it('are JSON lines linked by request id, job id and tenant, without tokens, prompts or images', async () => {
    const prompt = `a secret prompt ${randomBytes(6).toString('hex')}`;
    const image = (
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#3a6' } })
        .png()
        .toBuffer()
    ).toString('base64');
    const requestId = `req-${randomBytes(4).toString('hex')}`;
    const res = await client(api.url, key.token).post(
      '/generate/sd',
      { prompt, init_image: image, strength: 0.5, width: 64, height: 64, steps: 2, seed: 3 },
      { 'X-Request-Id': requestId },
    );
    expect(res.status, res.text).toBe(200);
    const jobId: string = res.json.id;

    // Every line the API wrote is JSON (the worker's native runtime may print plain warnings of its own).
    const access = await pollUntil(async () => json(api.logs).find((l) => l.req?.id === requestId && l.res), 5000);
    expect(access).toMatchObject({ tenant: key.tenant, keyId: key.id, jobId, req: { method: 'POST' } });

    const workerLines = await pollUntil(async () => {
      const lines = json(worker.logs.filter((l) => l.startsWith('{'))).filter((l) => l.jobId === jobId);
      return lines.some((l) => l.msg === 'attempt ended') ? lines : undefined;
    }, 10_000);
    expect(workerLines.find((l) => l.msg === 'attempt started')).toMatchObject({ tenant: key.tenant, keyId: key.id });
    expect(workerLines.find((l) => l.msg === 'attempt ended')).toMatchObject({
      tenant: key.tenant,
      outcome: 'completed',
    });

    const everything = [...api.logs, ...worker.logs].join('\n');
    expect(everything).not.toContain(key.token);
    expect(everything).not.toContain(prompt);
    expect(everything).not.toContain(image.slice(0, 40));
  });
});
