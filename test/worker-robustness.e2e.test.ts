import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';
import { getJson, pollUntil, postJson, startHarness, type Harness } from './harness.js';

const KILN_BIN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KILN_JOB_LOCK_MS: '2000' }, { worker: false });
});
afterAll(() => h?.stop());

describe('workers survive bad input and lose no job', () => {
  it('fails a malformed job without retrying it, and keeps serving', async () => {
    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      const { queue } = h.api.deps;
      // A payload that breaks the job schema, as a job written by hand (or another Kiln version) would.
      const malformed = JSON.parse('{"family":"sd15","tenant":"local","request":{"steps":"many"}}');
      const bad = await queue.add('sd15', malformed, { jobId: 'malformed-1' });
      await pollUntil(async () => ((await bad.getState()) === 'failed' ? true : undefined));
      const failed = await queue.getJob('malformed-1');
      expect(failed!.attemptsMade).toBe(1); // unrecoverable: not retried
      expect(JSON.parse(failed!.failedReason).code).toBe('invalid_request');

      const unknownCheckpoint = await postJson(`${h.url}/generate/sd`, {
        prompt: 'x',
        steps: 1,
        checkpoint: 'no-such-model',
      });
      expect(unknownCheckpoint.status).toBe(422);
      // Refused at intake, before anything is queued (apps/api/src/asset-resolve.ts).
      expect(unknownCheckpoint.json.error.code).toBe('invalid_request');
      expect(unknownCheckpoint.json.detail.map((d: { loc: string[] }) => d.loc[1])).toContain('checkpoint');

      const good = await postJson(`${h.url}/generate/sd`, { prompt: 'still alive', steps: 2, seed: 5 });
      expect(good.status).toBe(200);
      expect(good.json.images[0].seed).toBe(5);
    } finally {
      await worker.close();
    }
  });

  it('hands the job of a killed worker process to another worker', async () => {
    const env = {
      ...process.env,
      KILN_DATA_DIR: h.config.dataDir,
      KILN_MODELS_DIR: h.config.modelsDir,
      KILN_QUEUE_PREFIX: h.config.queuePrefix,
      KILN_JOB_LOCK_MS: '2000',
      KILN_LOG_LEVEL: 'silent',
    };
    const child = spawn(process.execPath, [KILN_BIN, 'worker'], { env, stdio: 'ignore' });
    try {
      // Long enough to be caught mid-render by the kill below.
      const accepted = await postJson(
        `${h.url}/generate/sd`,
        { prompt: 'long job', steps: 200, seed: 11 },
        { 'X-OctoAI-Async': '1' },
      );
      const id = accepted.json.response_id;
      await pollUntil(
        async () => ((await getJson(`${h.url}/v1/jobs/${id}`)).json.status === 'running' ? true : undefined),
        60_000,
        50,
      );
      child.kill('SIGKILL');

      const rescuer = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
      try {
        const done = await pollUntil(
          async () => {
            const j = await getJson(`${h.url}/v1/jobs/${id}`);
            expect(j.json.status).not.toBe('failed');
            return j.json.status === 'completed' ? j.json : undefined;
          },
          120_000,
          200,
        );
        expect(done.seeds).toEqual([11]);
        expect(done.images).toHaveLength(1);
      } finally {
        await rescuer.close();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });
});
