import { mkdtemp, readdir, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { FileStore, InvalidKeyError, StoreLimitError } from './file-store.js';

let root: string;
let store: FileStore;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-store-'));
  store = new FileStore(root);
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('FileStore', () => {
  it('round-trips bytes and JSON', async () => {
    await store.put('results/job1/0.png', Buffer.from([1, 2, 3]));
    expect([...(await store.get('results/job1/0.png'))!]).toEqual([1, 2, 3]);
    await store.putJson('results/job1/result.json', { seeds: [7] });
    expect(await store.getJson('results/job1/result.json')).toEqual({ seeds: [7] });
    expect(await store.get('results/nope/0.png')).toBeUndefined();
  });

  it('writes atomically: no temporary file is left behind and overwrites replace whole', async () => {
    await store.put('a/b', 'first version, longer');
    await store.put('a/b', 'second');
    expect((await store.get('a/b'))!.toString()).toBe('second');
    expect(await readdir(path.join(root, 'a'))).toEqual(['b']);
  });

  it('refuses keys that could escape the root', async () => {
    for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', '.hidden']) {
      await expect(store.put(key, 'x')).rejects.toBeInstanceOf(InvalidKeyError);
    }
  });

  it('deletes a prefix', async () => {
    await store.put('results/j/0.png', 'x');
    await store.put('results/j/1.png', 'y');
    await store.delete('results/j');
    expect(await store.has('results/j/0.png')).toBe(false);
  });

  it('sweeps files older than the TTL and keeps fresh ones', async () => {
    await store.put('results/old/0.png', 'x');
    await store.put('results/new/0.png', 'y');
    const longAgo = new Date(Date.now() - 10 * 3600_000);
    await utimes(path.join(root, 'results/old/0.png'), longAgo, longAgo);
    await mkdir(path.join(root, 'tmp'), { recursive: true });
    await writeFile(path.join(root, 'tmp/x.partial'), 'z');
    await utimes(path.join(root, 'tmp/x.partial'), longAgo, longAgo);
    const removed = await store.sweep(3600_000);
    expect(removed).toBe(2);
    expect(await store.has('results/old/0.png')).toBe(false);
    expect(await store.has('results/new/0.png')).toBe(true);
    expect(await readdir(path.join(root, 'results'))).toEqual(['new']);
  });

  it('streams a put, hashing as it goes; over the limit nothing is stored', async () => {
    const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(1000, 2), Buffer.alloc(500, 3)];
    const stored = await store.putStream('assets/a.bin', Readable.from(chunks), 2500);
    const whole = Buffer.concat(chunks);
    expect(stored).toEqual({ size: 2500, sha256: createHash('sha256').update(whole).digest('hex') });
    expect((await store.get('assets/a.bin'))!.equals(whole)).toBe(true);
    await expect(store.putStream('assets/b.bin', Readable.from(chunks), 2499)).rejects.toBeInstanceOf(StoreLimitError);
    expect(await readdir(path.join(root, 'assets'))).toEqual(['a.bin']);
  });

  it('retention never sweeps assets/', async () => {
    await store.put('assets/x.safetensors', 'lora');
    await store.put('results/j/0.png', 'png');
    expect(await store.sweep(0, Date.now() + 1000)).toBe(1);
    expect(await store.has('assets/x.safetensors')).toBe(true);
  });
});
