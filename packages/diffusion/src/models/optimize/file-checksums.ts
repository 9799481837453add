/**
 * SHA-256 of model files, remembered by (path, size, mtime, inode) in a small JSON file so that a
 * worker restart does not re-read gigabytes of weights to find its cached optimized model. A file
 * rewritten in place keeps its inode but gets a new mtime, so the remembered sum is dropped.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

interface Remembered {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 4 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class FileChecksums {
  private memo: Record<string, Remembered> | undefined;

  /** @param memoFile where the sums are remembered (written atomically: several workers may share it) */
  constructor(private readonly memoFile: string) {}

  private async load(): Promise<Record<string, Remembered>> {
    if (this.memo) return this.memo;
    try {
      this.memo = JSON.parse(await readFile(this.memoFile, 'utf8')) as Record<string, Remembered>;
    } catch {
      this.memo = {};
    }
    return this.memo;
  }

  /** The file's SHA-256, read from the memo when its size, mtime and inode are unchanged. */
  async sha256(file: string): Promise<string> {
    const absolute = path.resolve(file);
    const info = await stat(absolute);
    const memo = await this.load();
    const known = memo[absolute];
    if (known && known.size === info.size && known.mtimeMs === info.mtimeMs && known.ino === info.ino) {
      return known.sha256;
    }
    const sha256 = await sha256Of(absolute);
    // Re-read before writing: another worker may have added its own files meanwhile.
    this.memo = undefined;
    const latest = await this.load();
    latest[absolute] = { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino, sha256 };
    await mkdir(path.dirname(this.memoFile), { recursive: true });
    const staging = `${this.memoFile}.${process.pid}.tmp`;
    await writeFile(staging, JSON.stringify(latest));
    await rename(staging, this.memoFile);
    return sha256;
  }
}
