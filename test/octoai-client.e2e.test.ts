/**
 * The compatibility contract with OctoAI's older client, `@octoai/client` 0.5.2, unmodified, against
 * a real Kiln (API, Redis, worker, tiny model): `infer` on both endpoints, the async flow
 * (`inferAsync`, `isFutureReady`, `getFutureResult`) giving the same images as the sync call, its
 * errors (OctoAIClientError with Kiln's body in the message), and what a failed async job looks
 * like to it: `isFutureReady` stays false (it only knows "completed"), and the response URL answers
 * the job's own error with its status (422 for its input, 500 for a failure inside Kiln).
 */
import { Client, OctoAIClientError } from '@octoai/client';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startHarness, tinyModelsDir, type Harness } from './harness.js';
import { client, keysFileWith, newKey } from './tenancy-helpers.js';

interface Generation {
  images: { image_b64: string; seed: number; removed_for_safety: boolean }[];
  prediction_time_ms: number;
  id: string;
}

const key = newKey('client-user', 'acme');
const inputs = {
  prompt: 'a harbour',
  width: 64,
  height: 64,
  steps: 2,
  seed: [3, 4],
  num_images: 2,
  image_encoding: 'png',
};

let h: Harness;
let octo: Client;
let sd: string;

let modelsDir: string;

beforeAll(async () => {
  // The tiny SD1.5, diffusers' tiny SD3, and a model whose UNet is not ONNX: rendering with it
  // fails inside Kiln.
  const tiny = await tinyModelsDir();
  modelsDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-octoai-models-'));
  await symlink(path.join(tiny, 'tiny-sd15'), path.join(modelsDir, 'tiny-sd15'));
  const sd3 = path.resolve(import.meta.dirname, 'fixtures', 'diffusers-tiny-sd3');
  await symlink(sd3, path.join(modelsDir, 'diffusers-tiny-sd3'));
  await cp(path.join(tiny, 'tiny-sd15'), path.join(modelsDir, 'broken'), { recursive: true });
  await writeFile(path.join(modelsDir, 'broken', 'unet', 'model.onnx'), 'this is not onnx');
  h = await startHarness({
    KILN_KEYS_FILE: await keysFileWith([key]),
    KILN_HOST: '127.0.0.1',
    KILN_MODELS_DIR: modelsDir,
    KILN_ALLOW_ANY_RESOLUTION: '1',
    KILN_SD3_MODEL: 'diffusers-tiny-sd3',
    KILN_JOB_ATTEMPTS: '1',
  });
  octo = new Client(key.token);
  sd = `${h.url}/generate/sd`;
});
afterAll(async () => {
  await h?.stop();
  await rm(modelsDir, { recursive: true, force: true });
});

/** What `fn` throws (fails the test if it does not throw). */
async function thrown(fn: () => Promise<unknown>): Promise<Error> {
  const outcome = await fn().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as Error;
}

describe('@octoai/client 0.5.2', () => {
  let syncImages: string[] = [];

  it("infer on /generate/sd and /generate/sd3 answers OctoAI's body", async () => {
    const res = await octo.infer<Generation>(sd, inputs);
    expect(res.images.map((i) => i.seed)).toEqual([3, 4]);
    syncImages = res.images.map((i) => i.image_b64);
    const sd3 = await octo.infer<Generation>(`${h.url}/generate/sd3`, { ...inputs, prompt_2: 'a second prompt' });
    expect(sd3.images.map((i) => i.seed)).toEqual([3, 4]);
  });

  it('inferAsync, isFutureReady and getFutureResult give the same images as infer', async () => {
    const future = await octo.inferAsync(sd, inputs);
    expect(future.poll_url).toBe(`${h.url}/v1/requests/${future.response_id}`);
    await pollUntil(async () => ((await octo.isFutureReady(future)) ? true : undefined));
    const res = (await octo.getFutureResult(future)) as Generation;
    expect(res.id).toBe(future.response_id);
    expect(res.images.map((i) => i.image_b64)).toEqual(syncImages);
  });

  it("a validation failure is an OctoAIClientError carrying the 422 body with FastAPI's detail", async () => {
    const err = await thrown(() => octo.infer(sd, { ...inputs, steps: 0 }));
    expect(err).toBeInstanceOf(OctoAIClientError);
    expect(err.message).toMatch(/^Error: 422 /);
    expect(err.message).toContain('"loc":["body","steps"]');
  });

  it('an unknown token is an OctoAIClientError with 401', async () => {
    const err = await thrown(() => new Client('not-a-key').infer(sd, inputs));
    expect(err).toBeInstanceOf(OctoAIClientError);
    expect(err.message).toMatch(/^Error: 401 /);
  });

  it("a failed async job never looks ready to it; its response URL answers the job's 422 with detail", async () => {
    const future = await octo.inferAsync(sd, { ...inputs, clip_skip: 12 });
    const kiln = client(h.url, key.token);
    const status = await pollUntil(async () => {
      const s = (await kiln.get(`/v1/requests/${future.response_id}`)).json;
      return s.status === 'pending' || s.status === 'running' ? undefined : s;
    });
    expect(status).toEqual({ status: 'failed', error: { code: 'input_rejected', message: expect.any(String) } });
    expect(await octo.isFutureReady(future)).toBe(false);
    const notReady = await thrown(() => octo.getFutureResult(future));
    expect(notReady.message).toMatch(/^Error: 425 /); // the client's own "not completed", without asking Kiln
    const response = await kiln.get(`/v1/responses/${future.response_id}`);
    expect(response.status).toBe(422);
    expect(response.json).toMatchObject({
      error: { code: 'input_rejected', field: 'clip_skip', job_id: future.response_id },
      detail: [{ loc: ['body', 'clip_skip'] }],
    });
  });

  it('a job that fails inside Kiln: the response URL answers 500 internal_error with the job id', async () => {
    const future = await octo.inferAsync(sd, { ...inputs, checkpoint: 'broken' });
    const kiln = client(h.url, key.token);
    await pollUntil(async () =>
      (await kiln.get(`/v1/jobs/${future.response_id}`)).json.status === 'failed' ? true : undefined,
    );
    expect(await octo.isFutureReady(future)).toBe(false);
    const response = await kiln.get(`/v1/responses/${future.response_id}`);
    expect(response.status).toBe(500);
    expect(response.json.error).toMatchObject({ code: 'internal_error', job_id: future.response_id });
    expect(response.json.detail).toBeUndefined();
  });
});
