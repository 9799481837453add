/**
 * The storage contract, run against both stores: the filesystem and an S3-compatible bucket on a
 * real S3 server (s3rver on loopback). Plus what only the bucket has: presigned URLs, multipart
 * uploads aborted on failure, and a writer killed mid-upload leaving nothing visible.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, InvalidKeyError, StoreLimitError, type BlobStore } from '@kiln/storage';
import { collectLines, exited, pollUntil } from './harness.js';
import { S3_TEST_CREDENTIALS, startS3Server, type S3TestServer } from './s3-server.js';

let s3: S3TestServer;
let root: string;
beforeAll(async () => {
  s3 = await startS3Server();
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-stores-'));
});
afterAll(async () => {
  await s3.close();
  await rm(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A fresh store per test: its own folder, or its own key prefix in the bucket. */
const STORES: Array<[string, () => BlobStore]> = [
  ['fs', () => new FileStore(path.join(root, randomBytes(4).toString('hex')))],
  ['s3', () => s3.store(`t-${randomBytes(4).toString('hex')}/`)],
];

describe.each(STORES)('%s store', (kind, make) => {
  it('round-trips bytes and JSON; a missing key is undefined', async () => {
    const store = make();
    expect(store.kind).toBe(kind);
    await store.put('results/job1/0.png', Buffer.from([1, 2, 3]));
    expect([...(await store.get('results/job1/0.png'))!]).toEqual([1, 2, 3]);
    await store.putJson('results/job1/result.json', { seeds: [7] });
    expect(await store.getJson('results/job1/result.json')).toEqual({ seeds: [7] });
    expect(await store.get('results/nope/0.png')).toBeUndefined();
    expect(await store.openRead('results/nope/0.png')).toBeUndefined();
    expect(await store.has('results/job1/0.png')).toBe(true);
    expect(await store.has('results/job1/1.png')).toBe(false);
  });

  it('an overwrite replaces the whole object', async () => {
    const store = make();
    await store.put('a/b', 'first version, longer');
    await store.put('a/b', 'second');
    expect((await store.get('a/b'))!.toString()).toBe('second');
  });

  it('refuses keys that could escape the store', async () => {
    const store = make();
    for (const key of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', '.hidden']) {
      await expect(store.put(key, 'x')).rejects.toBeInstanceOf(InvalidKeyError);
    }
  });

  it('deletes a key and a prefix, not its neighbours', async () => {
    const store = make();
    await store.put('results/j/0.png', 'x');
    await store.put('results/j/1.png', 'y');
    await store.put('results/j2/0.png', 'z');
    await store.delete('results/j');
    expect(await store.has('results/j/0.png')).toBe(false);
    expect(await store.has('results/j/1.png')).toBe(false);
    expect(await store.has('results/j2/0.png')).toBe(true);
    await store.delete('results/j2/0.png');
    expect(await store.has('results/j2/0.png')).toBe(false);
  });

  it('streams a put and a read, hashing as it goes; over the limit nothing is stored', async () => {
    const store = make();
    const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(1000, 2), Buffer.alloc(500, 3)];
    const whole = Buffer.concat(chunks);
    expect(await store.putStream('assets/a.bin', Readable.from(chunks), 2500)).toEqual({
      size: 2500,
      sha256: sha256(whole),
    });
    const read: Buffer[] = [];
    for await (const chunk of (await store.openRead('assets/a.bin'))!) read.push(chunk as Buffer);
    expect(Buffer.concat(read).equals(whole)).toBe(true);
    await expect(store.putStream('assets/b.bin', Readable.from(chunks), 2499)).rejects.toBeInstanceOf(StoreLimitError);
    expect(await store.has('assets/b.bin')).toBe(false);
  });

  it('a streamed put larger than one multipart part round-trips exactly', async () => {
    const store = make();
    const big = randomBytes(11 * 1024 * 1024);
    const parts = [big.subarray(0, 4_000_000), big.subarray(4_000_000, 9_000_000), big.subarray(9_000_000)];
    expect(await store.putStream('assets/big.bin', Readable.from(parts))).toEqual({
      size: big.length,
      sha256: sha256(big),
    });
    expect(sha256((await store.get('assets/big.bin'))!)).toBe(sha256(big));
  });

  it('retention removes what expired, keeps what is fresh, never touches assets', async () => {
    const store = make();
    await store.put('results/old/0.png', 'x');
    await store.put('inputs/old/init_image', 'i');
    await store.put('assets/kept.safetensors', 'lora');
    // S3 keeps LastModified to the second: 3 s apart and a 1.5 s TTL leave no doubt either side.
    await sleep(3000);
    await store.put('results/new/0.png', 'y');
    expect(await store.sweep(1500)).toBe(2);
    expect(await store.has('results/old/0.png')).toBe(false);
    expect(await store.has('inputs/old/init_image')).toBe(false);
    expect(await store.has('results/new/0.png')).toBe(true);
    expect(await store.has('assets/kept.safetensors')).toBe(true);
  });
});

describe('fs store: URLs', () => {
  it('has no storage URLs: the API serves the bytes', async () => {
    expect(await new FileStore(root).signedUrl()).toBeUndefined();
  });
});

describe('s3 store', () => {
  it('presigned URLs download the exact bytes with their type, then expire', async () => {
    const store = s3.store('urls/');
    const png = randomBytes(20_000);
    await store.put('results/j/0.png', png);
    const url = (await store.signedUrl('results/j/0.png', 2, { contentType: 'image/png' }))!;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
    // (That a URL cannot be re-pointed at another key is the server's signature check: s3rver does
    // not verify V4 signatures at all, so it is not asserted here; Kiln's part is signing only for
    // the job's owner, tested in storage-fleet.e2e.)
    await sleep(3100);
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toMatch(/expired/i);
  });

  it('keeps prefixes apart: one store neither sees nor sweeps another prefix', async () => {
    const a = s3.store('tenant-a/');
    const b = s3.store('tenant-b/');
    await a.put('results/j/0.png', 'a');
    await b.put('results/j/0.png', 'b');
    expect((await a.get('results/j/0.png'))!.toString()).toBe('a');
    expect(await a.sweep(0, Date.now() + 5000)).toBe(1);
    expect((await b.get('results/j/0.png'))!.toString()).toBe('b');
  });

  it('a multipart upload that fails is aborted and never becomes visible', async () => {
    const store = s3.store('abort/');
    const sent: string[] = [];
    store.client.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName as string);
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    // 12 MiB against a 10 MiB limit: two 5 MiB parts go up, then the meter stops the stream.
    const chunks = Array.from({ length: 12 }, () => randomBytes(1024 * 1024));
    await expect(store.putStream('assets/too-big.bin', Readable.from(chunks), 10 * 1024 * 1024)).rejects.toBeInstanceOf(
      StoreLimitError,
    );
    expect(sent).toContain('CreateMultipartUploadCommand');
    expect(sent).toContain('AbortMultipartUploadCommand');
    expect(sent).not.toContain('CompleteMultipartUploadCommand');
    expect(await store.has('assets/too-big.bin')).toBe(false);
  });

  it('a writer killed mid-upload leaves the previous object whole and no partial one', async () => {
    const store = s3.store('killed/');
    const before = randomBytes(1000);
    await store.put('results/j/0.png', before);
    // A child process streams an endless body to the same key and to a new one; it is SIGKILLed
    // once S3 has accepted a part of each, with the multipart uploads open.
    const script = `
      import { S3Store } from '@kiln/storage';
      import { Readable } from 'node:stream';
      const store = new S3Store(${JSON.stringify({
        endpoint: s3.endpoint,
        region: 'us-east-1',
        bucket: s3.bucket,
        prefix: 'killed/',
        forcePathStyle: true,
        credentials: S3_TEST_CREDENTIALS,
      })});
      store.client.middlewareStack.add((next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'UploadPartCommand') console.log('part uploaded');
        return out;
      }, { step: 'initialize' });
      const endless = () => Readable.from((async function* () {
        for (;;) { yield Buffer.alloc(1024 * 1024, 7); await new Promise((r) => setTimeout(r, 5)); }
      })());
      await Promise.all([store.putStream('results/j/0.png', endless()), store.putStream('results/k/0.png', endless())]);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.resolve(import.meta.dirname, '..'),
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logs: string[] = [];
    collectLines(child, logs);
    await pollUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`writer exited early:\n${logs.join('\n')}`);
        return logs.filter((l) => l.includes('part uploaded')).length >= 2 || undefined;
      },
      30_000,
      20,
    );
    child.kill('SIGKILL');
    await exited(child, 5000);
    expect((await store.get('results/j/0.png'))!.equals(before)).toBe(true);
    expect(await store.has('results/k/0.png')).toBe(false);
    expect(await store.get('results/k/0.png')).toBeUndefined();
  });
});
