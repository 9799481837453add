/**
 * Custom assets through the service, over real HTTP, Redis, storage and a worker on the tiny
 * model: upload (multipart, checked by the core's parsers), list, render, delete; tenant isolation;
 * `library:` assets from KILN_ASSETS_DIR; batches; hostile uploads refused with 4xx and nothing
 * stored. Each asset kind changes the image, weight 0 gives the base image byte for byte, and a
 * second job with the same asset set gets the merged model from the renderer's cache.
 */
import { cp, mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  encodeSafetensors,
  encodeStoredZip,
  makeTinyEmbedding,
  makeTinyLora,
  makeTinySd15Model,
  type TinyLora,
} from '@kiln/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestModel, pollUntil, startHarness, type Harness } from './harness.js';
import { client, keysFileWith, newKey, smallRequest, type Client, type Reply } from './tenancy-helpers.js';

const TEXT_DIM = 32; // the tiny model's text encoder width
const MAX_ASSET_BYTES = 20 * 1024 * 1024; // room for the tiny model as a checkpoint archive
let h: Harness;
let acme: Client;
let globex: Client;
let acmeToken: string;
let globexToken: string;
let lora: TinyLora;
let otherModel: string;
let assetsDir: string;

async function upload(
  token: string,
  name: string,
  type: string,
  bytes: Uint8Array,
  fileName = 'file.bin',
): Promise<Reply> {
  const form = new FormData();
  form.append('name', name);
  form.append('type', type);
  form.append('file', new Blob([bytes]), fileName);
  const res = await fetch(`${h.url}/v1/assets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
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

/** One render; returns its first image (base64) and the job's record. */
async function render(c: Client, extra: Record<string, unknown> = {}): Promise<{ image: string; job: any }> {
  const done = await c.post('/generate/sd', smallRequest({ steps: 2, seed: 5, ...extra }));
  expect(done.status, done.text).toBe(200);
  const job = (await c.get(`/v1/jobs/${done.json.id}`)).json;
  return { image: done.json.images[0].image_b64, job };
}

const storedAssetFiles = async () => (await readdir(path.join(h.dataDir, 'assets')).catch(() => [] as string[])).sort();

beforeAll(async () => {
  const modelDir = await ensureTestModel('tiny-sd15');
  lora = await makeTinyLora(modelDir);
  const work = await mkdtemp(path.join(os.tmpdir(), 'kiln-assets-'));
  otherModel = path.join(work, 'other-model');
  await makeTinySd15Model(otherModel, { seed: 5 });
  // The operator's library: a LoRA (the same bytes as an upload), a LoRA that does not fit, a checkpoint.
  assetsDir = path.join(work, 'library');
  await mkdir(path.join(assetsDir, 'lora'), { recursive: true });
  await writeFile(path.join(assetsDir, 'lora', 'house-style.safetensors'), lora.kohyaF32);
  await writeFile(path.join(assetsDir, 'lora', 'misfit.safetensors'), misfitLora());
  await cp(otherModel, path.join(assetsDir, 'checkpoint', 'other'), { recursive: true });
  // One name may be installed as several kinds: a request's field says which it means.
  await cp(path.join(otherModel, 'vae_decoder'), path.join(assetsDir, 'vae', 'house-style', 'vae_decoder'), {
    recursive: true,
  });
  const acmeKey = newKey('acme-main', 'acme');
  const globexKey = newKey('globex-main', 'globex');
  acmeToken = acmeKey.token;
  globexToken = globexKey.token;
  h = await startHarness({
    KILN_KEYS_FILE: await keysFileWith([acmeKey, globexKey]),
    KILN_ALLOW_ANY_RESOLUTION: '1',
    KILN_HOST: '127.0.0.1',
    KILN_ASSETS_DIR: assetsDir,
    KILN_MAX_ASSET_BYTES: String(MAX_ASSET_BYTES),
  });
  acme = client(h.url, acmeToken);
  globex = client(h.url, globexToken);
}, 120_000);
afterAll(() => h?.stop());

/** A model folder as a zip archive inside one top folder, as users pack one. */
async function zipFolder(dir: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  const files = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  const entries = await Promise.all(
    files.map(async (e): Promise<[string, Uint8Array]> => {
      const full = path.join(e.parentPath, e.name);
      return [`my-model/${path.relative(dir, full).split(path.sep).join('/')}`, await readFile(full)];
    }),
  );
  return encodeStoredZip(entries);
}

/** A PEFT LoRA whose up matrix has twice the rows of the module it names. */
function misfitLora(): Uint8Array {
  const layer = lora.layers.find((l) => l.component === 'unet' && l.upShape.length === 2) as TinyLora['layers'][number];
  const [out, rank] = layer.upShape;
  return encodeSafetensors({
    [`unet.${layer.module}.lora_A.weight`]: { dtype: 'F32', shape: layer.downShape, values: layer.down },
    [`unet.${layer.module}.lora_B.weight`]: {
      dtype: 'F32',
      shape: [out * 2, rank],
      values: new Float32Array(out * 2 * rank),
    },
  });
}

describe('upload, list, get', () => {
  it('stores a LoRA with its size and sha256, owned by the uploader', async () => {
    const reply = await upload(acmeToken, 'style', 'lora', lora.kohyaF32);
    expect(reply.status, reply.text).toBe(201);
    const { createHash } = await import('node:crypto');
    expect(reply.json).toMatchObject({
      name: 'style',
      type: 'lora',
      size_bytes: lora.kohyaF32.byteLength,
      sha256: createHash('sha256').update(lora.kohyaF32).digest('hex'),
      shared: false,
    });
    expect(reply.json.details.lora_layers).toBe(lora.layers.length);
    expect(reply.json.details.unmatched_keys).toEqual([]);
    const listed = (await acme.get('/v1/assets')).json.assets.map((a: any) => a.name);
    expect(listed).toEqual(['style', 'library:other', 'library:house-style', 'library:misfit', 'library:house-style']);
    expect((await acme.get('/v1/assets/style')).json.sha256).toBe(reply.json.sha256);
    expect((await upload(acmeToken, 'style', 'lora', lora.kohyaF32)).status).toBe(409);
  });

  it('keeps other tenants out: they cannot see, use or delete it (404, or 422 naming it)', async () => {
    expect((await globex.get('/v1/assets/style')).status).toBe(404);
    expect((await globex.get('/v1/assets')).json.assets.map((a: any) => a.name)).not.toContain('style');
    expect((await globex.send('DELETE', '/v1/assets/style')).status).toBe(404);
    const used = await globex.post('/generate/sd', smallRequest({ loras: { style: 1 } }));
    expect(used.status).toBe(422);
    expect(used.json.detail[0].loc).toEqual(['body', 'loras', 'style']);
    expect((await acme.get('/v1/assets/style')).status).toBe(200);
  });
});

describe('rendering with assets', () => {
  let base: string;
  beforeAll(async () => {
    base = (await render(acme)).image;
  }, 60_000);

  it('a LoRA changes the image; weight 0 gives the base image exactly; the second job pays no merge', async () => {
    const first = await render(acme, { loras: { style: 1 } });
    expect(first.image).not.toBe(base);
    expect(first.job.assets).toMatchObject({ merged_lora_layers: lora.layers.length, unmatched_lora_keys: [] });
    const second = await render(acme, { loras: { style: 1 }, seed: 6 });
    console.log(`LoRA set: first job load_ms ${first.job.assets.load_ms}, second ${second.job.assets.load_ms}`);
    // The renderer's session cache had the merged model: no parsing, merging or session creation.
    expect(second.job.assets.load_ms).toBeLessThan(Math.min(50, first.job.assets.load_ms / 4));
    const zero = await render(acme, { loras: { style: 0 } });
    expect(zero.image).toBe(base);
    expect(zero.job.assets.merged_lora_layers).toBe(0);
  }, 90_000);

  it('a library LoRA with the same bytes renders the same image as the upload', async () => {
    const upload1 = await render(acme, { loras: { style: 0.7 } });
    const library = await render(globex, { loras: { 'library:house-style': 0.7 } });
    expect(library.image).toBe(upload1.image);
  }, 60_000);

  it('reports LoRA keys that match nothing with the job, never drops them', async () => {
    const layer = lora.layers[0];
    const withStray = encodeSafetensors({
      [`${layer.component}.${layer.module}.lora_A.weight`]: {
        dtype: 'F32',
        shape: layer.downShape,
        values: layer.down,
      },
      [`${layer.component}.${layer.module}.lora_B.weight`]: { dtype: 'F32', shape: layer.upShape, values: layer.up },
      'unet.no_such_block.to_q.lora_A.weight': { dtype: 'F32', shape: [2, 4], values: new Float32Array(8) },
      'unet.no_such_block.to_q.lora_B.weight': { dtype: 'F32', shape: [4, 2], values: new Float32Array(8) },
    });
    const up = await upload(acmeToken, 'stray', 'lora', withStray);
    expect(up.status, up.text).toBe(201);
    expect(up.json.details.unmatched_keys).toEqual([
      { key: 'unet.no_such_block.to_q', reason: 'no unet module matches' },
    ]);
    const { job } = await render(acme, { loras: { stray: 1 } });
    expect(job.assets.unmatched_lora_keys).toEqual([
      { lora: 'stray', key: 'unet.no_such_block.to_q', reason: 'no unet module matches' },
    ]);
  }, 60_000);

  it('a textual inversion changes prompts that name its trigger and no others', async () => {
    const up = await upload(acmeToken, 'concept', 'textual_inversion', makeTinyEmbedding(TEXT_DIM, 2).a1111Pt);
    expect(up.status, up.text).toBe(201);
    expect(up.json.details).toMatchObject({ vectors: 2, dim: TEXT_DIM });
    const called = await render(acme, { prompt: 'a <tiny> test', textual_inversions: { concept: '<tiny>' } });
    const plain = await render(acme, { prompt: 'a <tiny> test' });
    expect(called.image).not.toBe(plain.image);
    expect(called.job.assets.added_tokens).toEqual({ '<tiny>': 49408, '<tiny>_1': 49409 });
    const untouched = await render(acme, { textual_inversions: { concept: '<tiny>' } });
    expect(untouched.image).toBe(base);
  }, 60_000);

  it("a VAE replaces the model's decoder", async () => {
    const { readFile } = await import('node:fs/promises');
    const decoder = await readFile(path.join(otherModel, 'vae_decoder', 'model.onnx'));
    const up = await upload(acmeToken, 'other-vae', 'vae', decoder);
    expect(up.status, up.text).toBe(201);
    const uploaded = await render(acme, { vae: 'other-vae' });
    expect(uploaded.image).not.toBe(base);
    // The same decoder installed in the library (under a name that is also a library LoRA).
    expect((await render(acme, { vae: 'library:house-style' })).image).toBe(uploaded.image);
  }, 60_000);

  it('a checkpoint, uploaded as an archive or installed in the library, renders with that model', async () => {
    const library = await render(acme, { checkpoint: 'library:other' });
    expect(library.image).not.toBe(base);
    // A checkpoint merges nothing: its report says so and how long the job waited for the model.
    expect(library.job.assets).toMatchObject({ merged_lora_layers: 0, unmatched_lora_keys: [], added_tokens: {} });
    const up = await upload(acmeToken, 'my-model', 'checkpoint', await zipFolder(otherModel));
    expect(up.status, up.text).toBe(201);
    expect(up.json.details.files).toBeGreaterThan(5);
    const uploaded = await render(acme, { checkpoint: 'my-model' });
    expect(uploaded.image).toBe(library.image);
    expect((await globex.post('/generate/sd', smallRequest({ checkpoint: 'my-model' }))).status).toBe(422);
  }, 60_000);

  it('a LoRA that does not fit the model fails the job with 422 input_rejected naming loras', async () => {
    const done = await acme.post('/generate/sd', smallRequest({ loras: { 'library:misfit': 1 } }));
    expect(done.status, done.text).toBe(422);
    expect(done.json.error).toMatchObject({ code: 'input_rejected', field: 'loras' });
    expect(done.json.error.message).toMatch(/library:misfit: .*does not fit/);
  }, 60_000);
});

describe('requests naming assets', () => {
  it('a missing or wrong-type asset is a 422 naming the field and the asset; nothing is queued', async () => {
    const before = await h.api.deps.queue.getJobCounts();
    const missing = await acme.post('/generate/sd', smallRequest({ loras: { nope: 1 } }));
    expect(missing.status).toBe(422);
    expect(missing.json.detail).toEqual([
      { loc: ['body', 'loras', 'nope'], msg: expect.stringMatching(/no lora asset named nope/), type: 'value_error' },
    ]);
    const wrongType = await acme.post('/generate/sd', smallRequest({ vae: 'style' }));
    expect(wrongType.json.detail[0]).toMatchObject({ loc: ['body', 'vae'], msg: 'style is a lora asset, not a vae' });
    const path1 = await acme.post('/generate/sd', smallRequest({ vae: '../../etc/passwd' }));
    expect(path1.status).toBe(422);
    expect(path1.json.detail[0].loc).toEqual(['body', 'vae']);
    const checkpoint = await acme.post('/generate/sd', smallRequest({ checkpoint: 'not-installed' }));
    expect(checkpoint.json.detail[0].loc).toEqual(['body', 'checkpoint']);
    expect(await h.api.deps.queue.getJobCounts()).toEqual(before);
  });

  it('batch items are checked the same way, item by item', async () => {
    const items = [
      { custom_id: 'good', url: '/generate/sd', body: smallRequest({ loras: { style: 1 } }) },
      { custom_id: 'bad', url: '/generate/sd', body: smallRequest({ loras: { nope: 1 } }) },
    ];
    const res = await fetch(`${h.url}/v1/batches`, {
      method: 'POST',
      headers: { authorization: `Bearer ${acmeToken}`, 'content-type': 'application/x-ndjson' },
      body: items.map((i) => JSON.stringify(i)).join('\n') + '\n',
    });
    const batch = (await res.json()) as any;
    expect(res.status).toBe(201);
    expect(batch.errors).toHaveLength(1);
    expect(batch.errors[0]).toMatchObject({ custom_id: 'bad', error: { code: 'invalid_request' } });
    expect(JSON.stringify(batch.errors[0].error.detail[0].loc)).toMatch(/"loras","nope"/);
    const done = await pollUntil(
      async () => {
        const b = (await acme.get(`/v1/batches/${batch.id}`)).json;
        return b.status === 'completed' ? b : undefined;
      },
      60_000,
      200,
    );
    expect(done.counts).toMatchObject({ completed: 1, invalid: 1 });
  }, 90_000);
});

describe('hostile uploads', () => {
  const truncated = () => lora.kohyaF32.slice(0, lora.kohyaF32.byteLength - 10);
  const lyingHeader = () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 62n, true);
    return bytes;
  };
  // A pickle that would call os.system("id") when unpickled by torch.load.
  const evilPickle = () =>
    encodeStoredZip([
      ['archive/data.pkl', Buffer.from('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.', 'latin1')],
      ['archive/version', Buffer.from('3\n')],
    ]);

  it.each([
    ['a truncated safetensors', 'lora', truncated, /invalid_safetensors/],
    ['a safetensors whose header length lies', 'lora', lyingHeader, /invalid_safetensors/],
    ['a pickle carrying code', 'textual_inversion', evilPickle, /unsafe_pickle.*os\.system/],
    ['a LoRA of the wrong shape for the model', 'lora', misfitLora, /shape_mismatch/],
    [
      'an embedding of the wrong width',
      'textual_inversion',
      () => makeTinyEmbedding(TEXT_DIM * 2).a1111Pt,
      /shape_mismatch/,
    ],
    ['a VAE that is not ONNX', 'vae', () => lora.kohyaF32, /invalid_model/],
  ] as const)('refuses %s with 422 naming the file; nothing is stored', async (_what, type, bytes, message) => {
    const before = await storedAssetFiles();
    const reply = await upload(acmeToken, 'hostile', type, bytes());
    expect(reply.status, reply.text).toBe(422);
    expect(reply.json.detail[0]).toMatchObject({ loc: ['body', 'file'], msg: expect.stringMatching(message) });
    expect(await storedAssetFiles()).toEqual(before);
    expect((await acme.get('/v1/assets/hostile')).status).toBe(404);
  });

  it('refuses a file over KILN_MAX_ASSET_BYTES (413), bad names and archives that are not model folders (422)', async () => {
    const before = await storedAssetFiles();
    expect((await upload(acmeToken, 'big', 'lora', new Uint8Array(MAX_ASSET_BYTES + 1))).status).toBe(413);
    const badName = await upload(acmeToken, '../escape', 'lora', lora.kohyaF32);
    expect(badName.status).toBe(422);
    expect(badName.json.detail[0].loc).toEqual(['body', 'name']);
    const notZip = await upload(acmeToken, 'ckpt', 'checkpoint', new Uint8Array(10));
    expect(notZip.json.detail[0]).toMatchObject({ loc: ['body', 'file'], msg: expect.stringMatching(/invalid_zip/) });
    const escape = await upload(
      acmeToken,
      'ckpt',
      'checkpoint',
      encodeStoredZip([['../model_index.json', Buffer.from('{}')]]),
    );
    expect(escape.json.detail[0].msg).toMatch(/not a safe relative path/);
    const partial = await upload(
      acmeToken,
      'ckpt',
      'checkpoint',
      encodeStoredZip([['model_index.json', Buffer.from('{}')]]),
    );
    expect(partial.json.detail[0].msg).toMatch(/not a diffusers SD1\.5 ONNX folder: no unet\/model\.onnx/);
    expect(await storedAssetFiles()).toEqual(before);
    // The service goes on: the good asset still renders.
    expect((await render(acme, { loras: { style: 1 } })).job.status).toBe('completed');
  }, 60_000);
});

describe('delete', () => {
  it('removes the record and the file; later requests naming it get 422; library assets are read-only', async () => {
    const before = await storedAssetFiles();
    expect((await acme.send('DELETE', '/v1/assets/stray')).status).toBe(204);
    expect(await storedAssetFiles()).toHaveLength(before.length - 1);
    expect((await acme.get('/v1/assets/stray')).status).toBe(404);
    expect((await acme.post('/generate/sd', smallRequest({ loras: { stray: 1 } }))).status).toBe(422);
    expect((await acme.send('DELETE', '/v1/assets/library:house-style')).status).toBe(403);
  });
});
