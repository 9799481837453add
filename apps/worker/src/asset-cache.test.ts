import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ResolvedAsset } from '@kiln/contracts';
import { FileStore } from '@kiln/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssetCache, AssetUnavailableError } from './asset-cache.js';

let root: string;
let store: FileStore;
let cacheDir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-asset-cache-'));
  store = new FileStore(path.join(root, 'data'));
  cacheDir = path.join(root, 'cache');
});
afterEach(() => rm(root, { recursive: true, force: true }));

async function uploaded(name: string, size: number, type: ResolvedAsset['type'] = 'lora'): Promise<ResolvedAsset> {
  const bytes = Buffer.alloc(size, name.charCodeAt(0));
  const key = `assets/${name}.bin`;
  await store.put(key, bytes);
  return { source: 'upload', name, type, key, size, sha256: createHash('sha256').update(bytes).digest('hex') };
}

describe('AssetCache', () => {
  it('fetches an upload once, by sha256, and hands out the same path again', async () => {
    const cache = new AssetCache(store, cacheDir, 10_000, undefined);
    const asset = await uploaded('a', 100);
    const first = await cache.materialize({ loras: [{ asset, weight: 0.5 }] });
    const file = first.set.loras?.[0].file as string;
    expect(path.basename(file)).toBe(`${(asset as { sha256: string }).sha256}.safetensors`);
    expect((await readFile(file)).length).toBe(100);
    await store.delete('assets/a.bin'); // a cached copy does not need storage any more
    const second = await cache.materialize({ loras: [{ asset, weight: 1 }] });
    expect(second.set.loras?.[0]).toEqual({ file, weight: 1 });
    expect(first.names.get(path.basename(file))).toEqual({ field: 'loras', name: 'a' });
  });

  it('keeps within its byte bound, removing the least recently used entries first', async () => {
    const cache = new AssetCache(store, cacheDir, 250, undefined);
    const [a, b, c] = [await uploaded('a', 100), await uploaded('b', 100), await uploaded('c', 100)];
    const job = async (asset: ResolvedAsset) => (await cache.materialize({ loras: [{ asset, weight: 1 }] })).release();
    await job(a);
    await job(b);
    await job(a); // a is now more recent than b
    await job(c);
    const kept = (await readdir(cacheDir)).sort();
    const sha = (x: ResolvedAsset) => (x as { sha256: string }).sha256;
    expect(kept).toEqual([`${sha(a)}.safetensors`, `${sha(c)}.safetensors`].sort());
  });

  it('never evicts what a running job uses, until it releases it', async () => {
    const cache = new AssetCache(store, cacheDir, 150, undefined);
    const [a, b] = [await uploaded('a', 100), await uploaded('b', 100)];
    const running = await cache.materialize({ loras: [{ asset: a, weight: 1 }] });
    const next = await cache.materialize({ loras: [{ asset: b, weight: 1 }] });
    expect(await readdir(cacheDir)).toHaveLength(2); // over the bound, but both in use
    running.release();
    next.release();
    await cache.materialize({ loras: [{ asset: b, weight: 1 }] });
    expect(await readdir(cacheDir)).toEqual([`${(b as { sha256: string }).sha256}.safetensors`]);
  });

  it('refuses a file whose bytes changed in storage, and one that was deleted, naming the field', async () => {
    const cache = new AssetCache(store, cacheDir, 10_000, undefined);
    const asset = await uploaded('v', 50, 'vae');
    await writeFile(path.join(root, 'data', 'assets', 'v.bin'), 'tampered');
    const changed = await cache.materialize({ vae: asset }).catch((err: unknown) => err);
    expect(changed).toBeInstanceOf(AssetUnavailableError);
    expect(changed).toMatchObject({ field: 'vae', message: expect.stringMatching(/v changed in storage/) });
    expect(await readdir(cacheDir).catch(() => [])).toEqual([]);
    await store.delete('assets/v.bin');
    await expect(cache.materialize({ vae: asset })).rejects.toThrow(/no longer in storage/);
  });

  it('puts an uploaded VAE where the core looks for it: <folder>/vae_decoder/model.onnx', async () => {
    const cache = new AssetCache(store, cacheDir, 10_000, undefined);
    const asset = await uploaded('v', 50, 'vae');
    const { set } = await cache.materialize({ vae: asset });
    expect((await readFile(path.join(set.vae as string, 'vae_decoder', 'model.onnx'))).length).toBe(50);
  });

  it('describes core errors with the names the client used', () => {
    const names = new Map([['0123.safetensors', { field: 'loras', name: 'style' }]]);
    expect(AssetCache.describe('0123.safetensors: up [4, 2] does not fit', names)).toEqual({
      field: 'loras',
      message: 'style: up [4, 2] does not fit',
    });
  });
});
