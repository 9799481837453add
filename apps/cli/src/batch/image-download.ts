/**
 * One image of a batch into the dataset folder: straight from object storage when the API handed
 * out a presigned `image_url`, else through the API. The bytes go to `<file>.part` first; a
 * `.part` left by an interrupted run is resumed with a Range request, and the whole file is
 * checked against the image's `sha256` before it gets its name (a mismatch starts over once).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface DownloadableImage {
  url: string | null;
  image_url?: string | null;
  sha256?: string | null;
}

export class ChecksumError extends Error {}

async function sizeOf(file: string): Promise<number> {
  return (await stat(file).catch(() => undefined))?.size ?? 0;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Fetches `url` into `part`, continuing from its current size where the server allows. */
async function fetchInto(url: string, part: string, headers: Record<string, string>): Promise<void> {
  const have = await sizeOf(part);
  const res = await fetch(url, { headers: { ...headers, ...(have > 0 && { range: `bytes=${have}-` }) } });
  if (res.status === 416) return; // already whole: the checksum decides
  if (!res.ok || !res.body) throw new Error(`GET ${new URL(url).pathname}: ${res.status}`);
  const append = res.status === 206;
  await pipeline(Readable.fromWeb(res.body as never), createWriteStream(part, { flags: append ? 'a' : 'w' }));
}

/**
 * Downloads `image` to `dir/file`. `apiUrl` turns the API's image URL into one this client can
 * call with its key (`headers`); presigned URLs need no key and get none.
 */
export async function downloadImage(
  image: DownloadableImage,
  dir: string,
  file: string,
  api: { url(imageUrl: string): string; headers: Record<string, string> },
): Promise<void> {
  const target = path.join(dir, file);
  const part = `${target}.part`;
  const source = image.image_url ?? (image.url ? api.url(image.url) : undefined);
  if (!source) throw new Error(`${file}: the image has no URL`);
  const headers = image.image_url ? {} : api.headers;
  for (let attempt = 1; ; attempt++) {
    await fetchInto(source, part, headers);
    if (!image.sha256 || (await sha256Of(part)) === image.sha256) break;
    await rm(part, { force: true });
    if (attempt === 2) throw new ChecksumError(`${file}: downloaded bytes do not match sha256 ${image.sha256}`);
  }
  await rename(part, target);
}
