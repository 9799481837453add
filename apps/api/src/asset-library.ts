/**
 * The operator's shared, read-only assets (`library:<name>`), installed as files and folders under
 * `KILN_ASSETS_DIR` (docs/assets.md):
 *
 *   lora/<name>.safetensors                  textual_inversion/<name>.pt | .safetensors | .bin
 *   vae/<name>/vae_decoder/model.onnx        checkpoint/<name>/model_index.json (a diffusers ONNX folder)
 *   controlnet/<name>/model.onnx             (a ControlNet export, its external weights beside it)
 *
 * Workers read the same folder (installed on every machine, or shared), so a job carries only the
 * path relative to it. Library files are the operator's and are trusted to be what they say; a
 * worker still parses them with the safe parsers and a bad one fails its jobs with 422.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ASSET_NAME_PATTERN, ASSET_TYPES, LIBRARY_PREFIX, type AssetType, type AssetView } from '@kiln/contracts';

/** How each type is installed: file extensions, or a folder holding `marker`. */
const LAYOUT: Readonly<Record<AssetType, { extensions: readonly string[] } | { marker: string }>> = {
  lora: { extensions: ['.safetensors'] },
  textual_inversion: { extensions: ['.pt', '.safetensors', '.bin'] },
  vae: { marker: path.join('vae_decoder', 'model.onnx') },
  checkpoint: { marker: 'model_index.json' },
  controlnet: { marker: 'model.onnx' },
};

export interface LibraryEntry {
  name: string;
  type: AssetType;
  /** Relative to the library folder: `<type>/<file or folder>`. */
  path: string;
  size: number;
  sha256: string | null;
  createdAt: number;
}

const exists = (file: string) =>
  stat(file).then(
    (info) => info,
    () => undefined,
  );

export class AssetLibrary {
  /** SHA-256 of library files, by path, size and mtime (a listing hashes a file once). */
  private readonly digests = new Map<string, { stamp: string; sha256: Promise<string> }>();

  constructor(private readonly dir: string | undefined) {}

  /**
   * The entry for `name` (without `library:`), of type `preferred` when there is one of that type
   * (one name may be installed as several kinds), else of any type; or undefined.
   */
  async find(name: string, preferred?: AssetType): Promise<LibraryEntry | undefined> {
    if (!this.dir || !ASSET_NAME_PATTERN.test(name)) return undefined;
    const types = preferred ? [preferred, ...ASSET_TYPES.filter((type) => type !== preferred)] : ASSET_TYPES;
    for (const type of types) {
      const entry = await this.entry(type, name);
      if (entry) return entry;
    }
    return undefined;
  }

  async list(): Promise<LibraryEntry[]> {
    if (!this.dir) return [];
    const entries: LibraryEntry[] = [];
    for (const type of ASSET_TYPES) {
      const files = await readdir(path.join(this.dir, type)).catch(() => [] as string[]);
      const layout = LAYOUT[type];
      const names = files.map((file) => ('extensions' in layout ? file.slice(0, -path.extname(file).length) : file));
      for (const name of [...new Set(names)].sort()) {
        const entry = ASSET_NAME_PATTERN.test(name) ? await this.entry(type, name) : undefined;
        if (entry) entries.push(entry);
      }
    }
    return entries;
  }

  private async entry(type: AssetType, name: string): Promise<LibraryEntry | undefined> {
    const root = this.dir as string;
    const layout = LAYOUT[type];
    if ('marker' in layout) {
      const info = await exists(path.join(root, type, name, layout.marker));
      if (!info) return undefined;
      return {
        name,
        type,
        path: `${type}/${name}`,
        size: await folderSize(path.join(root, type, name)),
        sha256: null,
        createdAt: info.mtimeMs,
      };
    }
    for (const extension of layout.extensions) {
      const file = path.join(root, type, name + extension);
      const info = await exists(file);
      if (!info?.isFile()) continue;
      return {
        name,
        type,
        path: `${type}/${name}${extension}`,
        size: info.size,
        sha256: await this.digest(file, `${info.size}:${info.mtimeMs}`),
        createdAt: info.mtimeMs,
      };
    }
    return undefined;
  }

  private digest(file: string, stamp: string): Promise<string> {
    const known = this.digests.get(file);
    if (known?.stamp === stamp) return known.sha256;
    const hash = createHash('sha256');
    const sha256 = pipeline(createReadStream(file), hash).then(() => hash.digest('hex'));
    this.digests.set(file, { stamp, sha256 });
    return sha256;
  }
}

async function folderSize(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) {
    if (entry.isFile()) total += (await exists(path.join(entry.parentPath, entry.name)))?.size ?? 0;
  }
  return total;
}

/** A library entry as `GET /v1/assets` shows it. */
export function libraryView(entry: LibraryEntry): AssetView {
  return {
    name: LIBRARY_PREFIX + entry.name,
    type: entry.type,
    size_bytes: entry.size,
    sha256: entry.sha256,
    created_at: new Date(entry.createdAt).toISOString(),
    shared: true,
  };
}

const libraries = new Map<string, AssetLibrary>();

/** One library per folder and process, so every request shares its file digests. */
export function sharedAssetLibrary(dir: string | undefined): AssetLibrary {
  const key = dir ?? '';
  let library = libraries.get(key);
  if (!library) libraries.set(key, (library = new AssetLibrary(dir)));
  return library;
}
