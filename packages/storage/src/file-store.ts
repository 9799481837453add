import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PERMANENT_PREFIXES, StoreLimitError, assertKey, type BlobStore } from './blob-store.js';

export { InvalidKeyError, StoreLimitError } from './blob-store.js';

/**
 * A blob store on the local filesystem, rooted at `KILN_DATA_DIR/<namespace>`. Writes are atomic
 * (a temporary file in the same folder, then rename), so a reader never sees half an image and a
 * crash never leaves a truncated result under its final name.
 */
export class FileStore implements BlobStore {
  readonly kind = 'fs' as const;

  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    assertKey(key);
    return path.join(this.root, ...key.split('/'));
  }

  async put(key: string, bytes: Uint8Array | string): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.partial`;
    try {
      await writeFile(temp, bytes);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /**
   * Streams `source` to `key` without holding it in memory, hashing as it goes; over `maxBytes` it
   * stops reading, removes the partial file and throws {@link StoreLimitError}. Atomic like `put`.
   */
  async putStream(key: string, source: Readable, maxBytes = Infinity): Promise<{ size: number; sha256: string }> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.${randomBytes(6).toString('hex')}.partial`;
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new StoreLimitError(maxBytes));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(temp));
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    return { size, sha256: hash.digest('hex') };
  }

  /** A stream of the bytes under `key`, or undefined when there are none. */
  async openRead(key: string): Promise<ReadStream | undefined> {
    const file = this.pathOf(key);
    if (!(await this.has(key))) return undefined;
    return createReadStream(file);
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.put(key, JSON.stringify(value));
  }

  /** The bytes under `key`, or undefined when there are none (never written, or swept). */
  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.pathOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.get(key);
    return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as T);
  }

  async has(key: string): Promise<boolean> {
    try {
      await stat(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  /** Removes a key, or a whole prefix (`results/<job>`) with everything under it. */
  async delete(keyOrPrefix: string): Promise<void> {
    await rm(this.pathOf(keyOrPrefix), { recursive: true, force: true });
  }

  /**
   * Retention: deletes every file last written more than `ttlMs` ago (and folders left empty),
   * plus abandoned `.partial` files, except under `assets/` (kept until deleted). Returns how
   * many files were removed.
   */
  async sweep(ttlMs: number, now = Date.now()): Promise<number> {
    return sweepDir(this.root, now - ttlMs, true);
  }

  /** The filesystem has no URLs of its own: the API serves these bytes (`/v1/jobs/{id}/images/{i}`). */
  signedUrl(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

async function sweepDir(dir: string, cutoff: number, isRoot: boolean): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  let removed = 0;
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (isRoot && PERMANENT_PREFIXES.has(entry.name)) continue;
    if (entry.isDirectory()) {
      removed += await sweepDir(full, cutoff, false);
    } else {
      const info = await stat(full).catch(() => undefined);
      if (info && info.mtimeMs < cutoff) {
        await rm(full, { force: true });
        removed++;
      }
    }
  }
  if (!isRoot && (await readdir(dir).catch(() => ['keep'])).length === 0) {
    await rm(dir, { recursive: true, force: true });
  }
  return removed;
}
