/**
 * `kiln batch`'s image download from presigned URLs on a real S3 server: a `.part` left by an
 * interrupted run is resumed with a Range request, the result is checked against its sha256, and
 * a part that does not match is thrown away and fetched again whole.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChecksumError, downloadImage } from '../apps/cli/src/batch/image-download.js';
import { startS3Server, type S3TestServer } from './s3-server.js';

let s3: S3TestServer;
let dir: string;
const bytes = randomBytes(300_000);
const sha256 = createHash('sha256').update(bytes).digest('hex');
const noApi = { url: () => 'http://127.0.0.1:1/unused', headers: {} };
let imageUrl: string;

beforeAll(async () => {
  s3 = await startS3Server();
  dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-dl-'));
  const store = s3.store('dl/');
  await store.put('results/j/0.png', bytes);
  imageUrl = (await store.signedUrl('results/j/0.png', 600))!;
});
afterAll(async () => {
  await s3.close();
  await rm(dir, { recursive: true, force: true });
});

describe('downloadImage from a presigned URL', () => {
  it('downloads the exact bytes and leaves no .part', async () => {
    await downloadImage({ url: null, image_url: imageUrl, sha256 }, dir, 'a.png', noApi);
    expect((await readFile(path.join(dir, 'a.png'))).equals(bytes)).toBe(true);
    expect((await readdir(dir)).filter((f) => f.endsWith('.part'))).toEqual([]);
  });

  it('resumes an interrupted download from where its .part ends', async () => {
    await writeFile(path.join(dir, 'b.png.part'), bytes.subarray(0, 100_000));
    await downloadImage({ url: null, image_url: imageUrl, sha256 }, dir, 'b.png', noApi);
    expect((await readFile(path.join(dir, 'b.png'))).equals(bytes)).toBe(true);
  });

  it('a .part that does not match the checksum is fetched again whole', async () => {
    await writeFile(path.join(dir, 'c.png.part'), randomBytes(100_000));
    await downloadImage({ url: null, image_url: imageUrl, sha256 }, dir, 'c.png', noApi);
    expect((await readFile(path.join(dir, 'c.png'))).equals(bytes)).toBe(true);
  });

  it('bytes that never match are refused, not named as the image', async () => {
    await expect(
      downloadImage({ url: null, image_url: imageUrl, sha256: '0'.repeat(64) }, dir, 'd.png', noApi),
    ).rejects.toBeInstanceOf(ChecksumError);
    expect(await readdir(dir)).not.toContain('d.png');
  });
});
