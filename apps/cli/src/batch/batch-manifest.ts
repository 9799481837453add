/**
 * The dataset folder's `manifest.jsonl`: one line per downloaded image, written after the image
 * file is in place (written to a temporary name, then renamed). An image is done when its line is
 * there and its file exists, which is what makes a second run resume where the first stopped.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface ManifestEntry {
  custom_id: string;
  /** The image's index within its item (0 unless the item asked for several images). */
  index: number;
  prompt: string;
  negative_prompt: string | null;
  seed: number;
  sampler: string;
  steps: number;
  cfg_scale: number;
  width: number;
  height: number;
  model: string | null;
  /** Path of the image, relative to the dataset folder. */
  file: string;
  job_id: string;
}

export const MANIFEST = 'manifest.jsonl';

/** The images already in the dataset, by custom_id (only those whose file exists). */
export async function loadManifest(dir: string): Promise<Map<string, ManifestEntry[]>> {
  const done = new Map<string, ManifestEntry[]>();
  let text: string;
  try {
    text = await readFile(path.join(dir, MANIFEST), 'utf8');
  } catch {
    return done;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let entry: ManifestEntry;
    try {
      entry = JSON.parse(line) as ManifestEntry;
    } catch {
      continue; // a line cut short by a crash: that image is downloaded again
    }
    if (!existsSync(path.join(dir, entry.file))) continue;
    const list = done.get(entry.custom_id) ?? [];
    if (!list.some((e) => e.index === entry.index)) list.push(entry);
    done.set(entry.custom_id, list);
  }
  return done;
}

/** A file name for an item's image: the custom_id where it is safe, else made safe and made unique. */
export function imageFileName(customId: string, index: number, numImages: number, extension: string): string {
  const safe = customId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 150);
  const unique = safe === customId ? safe : `${safe}-${createHash('sha1').update(customId).digest('hex').slice(0, 8)}`;
  return `${unique}${numImages > 1 ? `_${index}` : ''}.${extension}`;
}

export async function writeImage(dir: string, file: string, bytes: Buffer): Promise<void> {
  const target = path.join(dir, file);
  const staging = `${target}.part`;
  await writeFile(staging, bytes);
  await rename(staging, target);
}

export async function appendManifest(dir: string, entries: readonly ManifestEntry[]): Promise<void> {
  if (entries.length) await appendFile(path.join(dir, MANIFEST), entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
}
