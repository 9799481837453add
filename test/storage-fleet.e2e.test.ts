/**
 * A fleet on each store: `kiln api` and two `kiln worker` processes complete sync, async and batch
 * jobs with an input image and an uploaded LoRA, and serve the results. On `s3` every process has
 * a KILN_DATA_DIR of its own (they share no folder: only the bucket on a real S3 server); on `fs`
 * they share the API's folder, as a single machine does. With `?image_urls=1` the owner gets
 * presigned URLs to the exact bytes (expiring; `fs` has none), another tenant gets 404.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LOG_FLUSH_INTERVAL_MS } from '@kiln/config';
import { FileStore, inputKey } from '@kiln/storage';
import { makeTinyLora } from '@kiln/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnWorker, type WorkerProcess } from './fault-workers.js';
import { ensureTestModel, pollUntil, startApiProcess, tinyModelsDir, type ApiProcess } from './harness.js';
import { runKilnBatch } from './kiln-batch-cli.js';
import { startS3Server, type S3TestServer } from './s3-server.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, type Client } from './tenancy-helpers.js';

const INIT_B64 = readFileSync(
  path.resolve(import.meta.dirname, 'fixtures', 'sd15-pipeline', 'img2img_init_64x64.png'),
).toString('base64');
const URL_TTL_S = 3;
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(['fs', 's3'] as const)('a fleet on the %s store', (kind) => {
  let s3: S3TestServer | undefined;
  let api: ApiProcess;
  const workers: WorkerProcess[] = [];
  const workerDirs: string[] = [];
  let acme: Client;
  let globex: Client;
  let acmeToken: string;
  let storagePrefix: string;

  beforeAll(async () => {
    const acmeKey = newKey('acme-1', 'acme');
    const globexKey = newKey('globex-1', 'globex');
    acmeToken = acmeKey.token;
    s3 = kind === 's3' ? await startS3Server() : undefined;
    storagePrefix = `fleet-${Date.now()}/`;
    const storageEnv = s3?.env(storagePrefix) ?? {};
    api = await startApiProcess({
      ...storageEnv,
      KILN_KEYS_FILE: await keysFileWith([acmeKey, globexKey]),
      KILN_HOST: '127.0.0.1',
      KILN_ALLOW_ANY_RESOLUTION: '1',
      KILN_IMAGE_URL_TTL_S: String(URL_TTL_S),
    });
    for (let i = 0; i < 2; i++) {
      const dataDir = s3 ? await mkdtemp(path.join(os.tmpdir(), `kiln-fleet-w${i}-`)) : api.dataDir;
      if (s3) workerDirs.push(dataDir);
      workers.push(
        spawnWorker({
          ...storageEnv,
          KILN_DATA_DIR: dataDir,
          KILN_MODELS_DIR: await tinyModelsDir(),
          KILN_QUEUE_PREFIX: api.prefix,
          KILN_ALLOW_ANY_RESOLUTION: '1',
        }),
      );
    }
    await Promise.all(workers.map((w) => w.waitReady()));
    acme = client(api.url, acmeToken);
    globex = client(api.url, globexKey.token);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop(5000)));
    await api?.stop();
    await s3?.close();
    await Promise.all(workerDirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  /** The image through the API, and through its storage URL where there is one. */
  async function checkServed(jobId: string, index: number, expected?: Buffer): Promise<Buffer> {
    const viaApi = await fetch(`${api.url}/v1/jobs/${jobId}/images/${index}`, {
      headers: { authorization: `Bearer ${acmeToken}` },
    });
    expect(viaApi.status).toBe(200);
    const bytes = Buffer.from(await viaApi.arrayBuffer());
    if (expected) expect(bytes.equals(expected)).toBe(true);
    const job = (await acme.get(`/v1/jobs/${jobId}?image_urls=1`)).json;
    const image = job.images[index];
    expect(image.sha256).toBe(sha256(bytes));
    if (kind === 'fs') {
      expect(image.image_url).toBeNull();
    } else {
      expect(new Date(image.image_url_expires_at).getTime()).toBeGreaterThan(Date.now());
      const direct = await fetch(image.image_url as string); // no API key: the URL is the permission
      expect(direct.status).toBe(200);
      expect(direct.headers.get('content-type')).toBe('image/png');
      expect(Buffer.from(await direct.arrayBuffer()).equals(bytes)).toBe(true);
    }
    // Without asking, no URL is minted at all.
    expect((await acme.get(`/v1/jobs/${jobId}`)).json.images[index].image_url).toBeUndefined();
    return bytes;
  }

  it('sync, async and batch jobs complete; results, inputs and assets are served', async () => {
    // An uploaded asset: stored by the API, fetched by whichever worker renders.
    const lora = await makeTinyLora(await ensureTestModel('tiny-sd15'));
    const form = new FormData();
    form.append('name', 'style');
    form.append('type', 'lora');
    form.append('file', new Blob([lora.kohyaF32]), 'style.safetensors');
    const uploaded = await fetch(`${api.url}/v1/assets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeToken}` },
      body: form,
    });
    expect(uploaded.status, await uploaded.clone().text()).toBe(201);

    // Sync with an input image and the LoRA.
    const sync = await acme.post(
      '/generate/sd',
      smallRequest({ init_image: INIT_B64, strength: 0.8, loras: { style: 1 } }),
    );
    expect(sync.status, sync.text).toBe(200);
    await checkServed(sync.json.id, 0, Buffer.from(sync.json.images[0].image_b64, 'base64'));

    // Async: several at once, so both workers take some.
    const queued = await Promise.all(
      [11, 12, 13, 14].map((seed) => acme.post('/generate/sd', smallRequest({ seed }), ASYNC)),
    );
    for (const reply of queued) expect(reply.status, reply.text).toBe(201);
    for (const reply of queued) {
      const id = reply.json.response_id as string;
      await pollUntil(async () => (await acme.get(`/v1/requests/${id}`)).json.status === 'completed' || undefined);
      const response = await acme.get(`/v1/responses/${id}`);
      expect(response.status).toBe(200);
      await checkServed(id, 0, Buffer.from(response.json.images[0].image_b64, 'base64'));
    }

    // Batch: results lines carry the same storage fields.
    const jsonl = [1, 2]
      .map((n) =>
        JSON.stringify({ custom_id: `item-${n}`, url: '/generate/sd', body: smallRequest({ seed: 100 + n }) }),
      )
      .join('\n');
    const batch = await fetch(`${api.url}/v1/batches`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeToken}`, 'content-type': 'application/x-ndjson' },
      body: jsonl,
    });
    expect(batch.status, await batch.clone().text()).toBe(201);
    const batchId = ((await batch.json()) as { id: string }).id;
    await pollUntil(async () => (await acme.get(`/v1/batches/${batchId}`)).json.status === 'completed' || undefined);
    const lines = (await acme.get(`/v1/batches/${batchId}/results?image_urls=1`)).text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.status)).toEqual(['completed', 'completed']);
    for (const line of lines) {
      const bytes = await checkServed(line.job_id, 0);
      expect(line.images[0].sha256).toBe(sha256(bytes));
      if (kind === 's3') {
        const direct = await fetch(line.images[0].image_url);
        expect(Buffer.from(await direct.arrayBuffer()).equals(bytes)).toBe(true);
      } else {
        expect(line.images[0].image_url).toBeNull();
      }
    }

    // Both workers rendered, and on S3 neither kept a result or input on its own disk.
    for (const w of workers) {
      const rendered = async () => w.logs.some((l) => l.includes('"render finished"')) || undefined;
      expect(await pollUntil(rendered, 5000)).toBe(true);
    }
    for (const dir of workerDirs) {
      const top = await readdir(dir);
      expect(top).not.toContain('results');
      expect(top).not.toContain('inputs');
    }
  }, 180_000);

  it("another tenant gets 404 and no URL for the owner's job; URLs expire", async () => {
    const done = await acme.post('/generate/sd', smallRequest({ seed: 42 }));
    expect(done.status, done.text).toBe(200);
    const id = done.json.id as string;
    const stolen = await globex.get(`/v1/jobs/${id}?image_urls=1`);
    expect(stolen.status).toBe(404);
    expect(stolen.text).not.toContain('X-Amz-Signature');
    expect((await globex.get(`/v1/jobs/${id}/images/0`)).status).toBe(404);
    expect((await acme.get(`/v1/jobs/${id}?image_urls=maybe`)).status).toBe(422);
    if (kind === 's3') {
      const url = (await acme.get(`/v1/jobs/${id}?image_urls=1`)).json.images[0].image_url as string;
      expect(url).toContain('X-Amz-Expires=3');
      expect((await fetch(url)).status).toBe(200);
      await sleep(URL_TTL_S * 1000 + 1500);
      expect((await fetch(url)).status).toBe(403);
    }
  }, 60_000);

  it('kiln batch writes the dataset, downloading straight from the bucket on S3 and through the API on fs', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-fleet-cli-'));
    try {
      const csv = path.join(dir, 'prompts.csv');
      const out = path.join(dir, 'dataset');
      await writeFile(csv, ['prompt,seed', 'a red apple,1', 'a small house,2', 'a boat,3'].join('\n') + '\n');
      const imageReads = () => api.logs.filter((l) => /"url":"\/v1\/jobs\/[^"]+\/images\//.test(l)).length;
      // The API writes its log in blocks: the earlier tests' lines are all out after a flush interval.
      const logsSettled = () => sleep(3 * LOG_FLUSH_INTERVAL_MS);
      await logsSettled();
      const before = imageReads();
      await runKilnBatch({ csv, out, url: api.url, apiKey: acmeToken, timeoutMs: 60_000 });
      expect((await readdir(path.join(out, 'images'))).filter((f) => f.endsWith('.png'))).toHaveLength(3);
      const manifest = (await readFile(path.join(out, 'manifest.jsonl'), 'utf8')).split('\n').filter(Boolean);
      expect(manifest).toHaveLength(3);
      // Every image through its presigned URL on S3 (no API read), through the API on fs.
      await logsSettled();
      expect(imageReads() - before).toBe(kind === 's3' ? 0 : 3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);

  // Last: the sweep removes every expired result of this store.
  it("a worker's retention sweep removes expired results and inputs from the store, never assets", async () => {
    const done = await acme.post('/generate/sd', smallRequest({ seed: 77, init_image: INIT_B64, strength: 0.5 }));
    expect(done.status, done.text).toBe(200);
    const id = done.json.id as string;
    expect((await acme.get(`/v1/jobs/${id}/images/0`)).status).toBe(200);
    const store = s3 ? s3.store(storagePrefix) : new FileStore(api.dataDir);
    expect(await store.has(inputKey(id, 'init_image'))).toBe(true);
    // S3 keeps LastModified to the second: objects 3 s old against a 1.8 s retention are expired.
    await sleep(3000);
    const dataDir = s3 ? await mkdtemp(path.join(os.tmpdir(), 'kiln-fleet-sweeper-')) : api.dataDir;
    if (s3) workerDirs.push(dataDir);
    const sweeper = spawnWorker({
      ...(s3?.env(storagePrefix) ?? {}),
      KILN_DATA_DIR: dataDir,
      KILN_MODELS_DIR: await tinyModelsDir(),
      KILN_QUEUE_PREFIX: api.prefix,
      KILN_RESULT_TTL_HOURS: String(1.8 / 3600), // a worker sweeps when it starts
    });
    try {
      await sweeper.waitReady();
      await pollUntil(
        async () => sweeper.logs.some((l) => l.includes('retention: removed expired files')) || undefined,
      );
    } finally {
      await sweeper.stop(5000);
    }
    const image = await acme.get(`/v1/jobs/${id}/images/0`);
    expect(image.status, image.text).toBe(404);
    expect(await store.has(inputKey(id, 'init_image'))).toBe(false);
    expect((await acme.get(`/v1/jobs/${id}?image_urls=1`)).status).not.toBe(500);
    const response = await acme.get(`/v1/responses/${id}`);
    expect(response.status, response.text).toBe(404);
    expect(response.json.error.code).toBe('not_found');
    // The uploaded LoRA is an asset: retention never removes it.
    expect((await acme.post('/generate/sd', smallRequest({ loras: { style: 1 } }))).status).toBe(200);
  }, 90_000);
});
