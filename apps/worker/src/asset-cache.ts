/**
 * A worker's local copies of the assets its jobs name. Uploads are fetched from storage into a
 * disk cache keyed by SHA-256 (verified while copying, so a changed file is noticed, never used),
 * bounded by `KILN_ASSET_CACHE_BYTES` with the least recently used entries removed first; shared
 * `library:` assets are read in place from `KILN_ASSETS_DIR`. The paths are stable per content,
 * so the renderer's session cache (keyed by paths and weights) reuses a merged model across jobs.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ASSET_FIELD, type JobAssets, type ResolvedAsset } from '@kiln/contracts';
import type { Sd15AssetSet } from '@kiln/diffusion';
import { AssetError, checkpointArchiveFiles } from '@kiln/diffusion/asset-check';
import type { BlobStore } from '@kiln/storage';

/** An asset a job names cannot be had (deleted, changed, not installed here): the job's fault. */
export class AssetUnavailableError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'AssetUnavailableError';
  }
}

/** A job's assets as local paths, and how to name them back in messages. */
export interface LocalAssets {
  set: Sd15AssetSet;
  /** A `library:` checkpoint's folder, when the job names one. */
  checkpointDir?: string;
  /** Local file or folder name → the request field and the asset's name. */
  names: Map<string, { field: string; name: string }>;
  /** The job's ControlNet assets: request name → local `model.onnx`. */
  controlnets: Record<string, string>;
  /** Call when the job is done with the files: until then no eviction removes them. */
  release(): void;
}

interface Entry {
  path: string;
  size: number;
  lastUsed: number;
}

/** The local file (or folder, for a VAE) of an upload, by type. */
const LOCAL_FILE: Record<ResolvedAsset['type'], (sha256: string) => string> = {
  lora: (sha) => `${sha}.safetensors`,
  textual_inversion: (sha) => `${sha}.bin`,
  vae: (sha) => path.join(sha, 'vae_decoder', 'model.onnx'),
  checkpoint: (sha) => path.join(sha, 'model_index.json'),
  // In a folder of its own: the memory estimate counts the files beside a session's model.onnx.
  controlnet: (sha) => path.join(sha, 'controlnet', 'model.onnx'),
};

export class AssetCache {
  private entries: Map<string, Entry> | undefined;
  private readonly fetching = new Map<string, Promise<void>>();
  private lastUse = 0;
  /** Entries in use by running jobs (sha256 → jobs), never evicted. */
  private readonly pinned = new Map<string, number>();

  constructor(
    private readonly store: BlobStore,
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly libraryDir: string | undefined,
  ) {}

  /** The job's assets on local disk, fetched as needed; throws {@link AssetUnavailableError}. */
  async materialize(assets: JobAssets): Promise<LocalAssets> {
    const names = new Map<string, { field: string; name: string }>();
    const used = new Set<string>();
    const release = () => {
      for (const sha of used) {
        const left = (this.pinned.get(sha) ?? 1) - 1;
        if (left > 0) this.pinned.set(sha, left);
        else this.pinned.delete(sha);
      }
      used.clear();
    };
    const local = async (asset: ResolvedAsset): Promise<string> => {
      const file = await this.localPath(asset, used);
      // The core names a LoRA or embedding by its file name and a VAE by its folder.
      const shown = folderOf(asset, file);
      names.set(path.basename(shown), { field: ASSET_FIELD[asset.type], name: asset.name });
      names.set(shown, { field: ASSET_FIELD[asset.type], name: asset.name });
      return shown;
    };
    const set: Sd15AssetSet = {};
    const controlnets: Record<string, string> = {};
    let checkpointDir: string | undefined;
    try {
      for (const [name, asset] of Object.entries(assets.controlnets ?? {})) {
        const file = await local(asset);
        // A library ControlNet is its folder; the core takes the model.onnx in it.
        controlnets[name] = asset.source === 'library' ? path.join(file, 'model.onnx') : file;
      }
      if (assets.vae) set.vae = await local(assets.vae);
      if (assets.loras?.length) {
        const loras = [];
        for (const { asset, weight } of assets.loras) loras.push({ file: await local(asset), weight });
        set.loras = loras;
      }
      if (assets.textual_inversions?.length) {
        const inversions = [];
        for (const { asset, trigger } of assets.textual_inversions) {
          inversions.push({ file: await local(asset), trigger });
        }
        set.textualInversions = inversions;
      }
      if (assets.checkpoint) checkpointDir = await local(assets.checkpoint);
      await this.evict();
    } catch (err) {
      release();
      throw err;
    }
    return { set, names, controlnets, release, ...(checkpointDir !== undefined && { checkpointDir }) };
  }

  private async localPath(asset: ResolvedAsset, used: Set<string>): Promise<string> {
    const field = ASSET_FIELD[asset.type];
    if (asset.source === 'library') {
      if (!this.libraryDir) throw new AssetUnavailableError(field, `${asset.name}: this worker has no KILN_ASSETS_DIR`);
      const target = path.join(this.libraryDir, ...asset.path.split('/'));
      if (!(await stat(target).catch(() => undefined))) {
        throw new AssetUnavailableError(field, `${asset.name} is not installed on this worker (${asset.path})`);
      }
      return target;
    }
    const entries = await this.index();
    if (!used.has(asset.sha256)) this.pinned.set(asset.sha256, (this.pinned.get(asset.sha256) ?? 0) + 1);
    used.add(asset.sha256);
    const file = path.join(this.dir, LOCAL_FILE[asset.type](asset.sha256));
    const known = entries.get(asset.sha256);
    if (known && (await stat(file).catch(() => undefined))) {
      known.lastUsed = this.now();
      await utimes(file, new Date(), new Date()).catch(() => undefined);
      return file;
    }
    let inFlight = this.fetching.get(asset.sha256);
    if (!inFlight) {
      inFlight = this.fetch(asset, file).finally(() => this.fetching.delete(asset.sha256));
      this.fetching.set(asset.sha256, inFlight);
    }
    await inFlight;
    return file;
  }

  /**
   * Copies an upload from storage, verifying its SHA-256 before it gets its final name; a
   * checkpoint archive is unpacked into a folder (entry names checked by the core's archive check).
   */
  private async fetch(asset: Extract<ResolvedAsset, { source: 'upload' }>, file: string): Promise<void> {
    const field = ASSET_FIELD[asset.type];
    const source = await this.store.openRead(asset.key);
    if (!source)
      throw new AssetUnavailableError(field, `${asset.name} is no longer in storage (deleted); upload it again`);
    await mkdir(this.dir, { recursive: true });
    const temp = path.join(this.dir, `${asset.sha256}.${randomBytes(6).toString('hex')}.partial`);
    const hash = createHash('sha256');
    const hasher = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    let size = asset.size;
    try {
      await pipeline(source, hasher, createWriteStream(temp));
      const sha256 = hash.digest('hex');
      if (sha256 !== asset.sha256) {
        throw new AssetUnavailableError(
          field,
          `${asset.name} changed in storage since it was checked (sha256 ${sha256})`,
        );
      }
      if (asset.type === 'checkpoint') {
        size = await this.unpack(asset.name, temp, this.topOf(file));
      } else {
        await mkdir(path.dirname(file), { recursive: true });
        await rename(temp, file);
      }
    } finally {
      await rm(temp, { force: true });
    }
    (this.entries as Map<string, Entry>).set(asset.sha256, { path: file, size, lastUsed: this.now() });
  }

  /** Unpacks a checkpoint archive into `target` (written beside it, then renamed); returns its size. */
  private async unpack(name: string, archive: string, target: string): Promise<number> {
    let files: Map<string, Uint8Array>;
    try {
      files = checkpointArchiveFiles(await readFile(archive), name);
    } catch (err) {
      if (err instanceof AssetError) throw new AssetUnavailableError('checkpoint', err.message);
      throw err;
    }
    const staging = `${target}.${randomBytes(6).toString('hex')}.partial`;
    let size = 0;
    try {
      for (const [relative, data] of files) {
        const out = path.join(staging, ...relative.split('/'));
        await mkdir(path.dirname(out), { recursive: true });
        await writeFile(out, data);
        size += data.byteLength;
      }
      await rename(staging, target);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw err;
    }
    return size;
  }

  /** What is on disk already (a restarted worker keeps its cache), oldest use first. */
  private async index(): Promise<Map<string, Entry>> {
    if (this.entries) return this.entries;
    const entries = new Map<string, Entry>();
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir)) {
      const sha = /^([0-9a-f]{64})(\.|$)/.exec(name)?.[1];
      if (!sha || name.includes('.partial')) continue;
      const full = path.join(this.dir, name);
      const info = await stat(full);
      const size = info.isDirectory() ? await folderSize(full) : info.size;
      entries.set(sha, { path: full, size, lastUsed: info.mtimeMs });
    }
    this.entries = entries;
    return entries;
  }

  /** Removes least recently used entries until the cache fits, never one a running job uses. */
  private async evict(): Promise<void> {
    const entries = await this.index();
    let total = [...entries.values()].reduce((sum, e) => sum + e.size, 0);
    const oldestFirst = [...entries].sort(([, a], [, b]) => a.lastUsed - b.lastUsed);
    for (const [sha, entry] of oldestFirst) {
      if (total <= this.maxBytes) break;
      if (this.pinned.has(sha)) continue;
      await rm(this.topOf(entry.path), { recursive: true, force: true });
      entries.delete(sha);
      total -= entry.size;
    }
  }

  /** A strictly increasing use time (ms), so two uses within one millisecond still have an order. */
  private now(): number {
    this.lastUse = Math.max(Date.now(), this.lastUse + 0.001);
    return this.lastUse;
  }

  /** The cache's own file or folder that holds `file`. */
  private topOf(file: string): string {
    return path.join(this.dir, path.relative(this.dir, file).split(path.sep)[0]);
  }

  /** Local paths in a core message replaced by the asset names the client used. */
  static describe(message: string, names: LocalAssets['names']): { field?: string; message: string } {
    let field: string | undefined;
    let text = message;
    for (const [local, { field: f, name }] of [...names].sort(([a], [b]) => b.length - a.length)) {
      if (!text.includes(local)) continue;
      field ??= f;
      text = text.replaceAll(local, name);
    }
    return { ...(field && { field }), message: text };
  }
}

/**
 * What the core takes for a local asset: the file, or for an uploaded VAE its folder (which has
 * `vae_decoder/model.onnx`) and for an uploaded checkpoint the model folder. Library assets are
 * the installed path itself.
 */
function folderOf(asset: ResolvedAsset, file: string): string {
  if (asset.source === 'library') return file;
  if (asset.type === 'vae') return path.dirname(path.dirname(file));
  return asset.type === 'checkpoint' ? path.dirname(file) : file;
}

async function folderSize(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  let total = 0;
  for (const entry of entries) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}
