/**
 * A cache of onnxruntime's optimized models (docs/benchmarks.md, "Cold start"): the first session
 * created from a model file saves the graph onnxruntime optimized (constant folding, fusions, the
 * NCHWc layout of the CPU provider, weights re-laid out for it) with its weights in one external
 * file; the next process creates its session from that copy with graph optimization off, which
 * skips the optimizer's seconds and lets onnxruntime memory-map the weights.
 *
 * Entries are keyed by the SHA-256 of every file in the model's folder (the graph and its external
 * weights), the onnxruntime version, the CPU (the layout onnxruntime picks depends on its vector
 * width) and the optimization level, so a changed file, an upgrade or another machine never reads
 * a stale entry. An entry is written under a temporary name and renamed when complete; a newer
 * entry for the same source file replaces the older ones.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileChecksums } from './file-checksums.js';

/** The optimized model's file and its weights' file inside an entry. */
const MODEL_FILE = 'model.onnx';
const WEIGHTS_FILE = 'weights.bin';
const SOURCE_FILE = 'source.json';

/** What Kiln learnt of a model while preparing it, kept with its entry for the starts that skip that work. */
export interface ModelFacts {
  /** Every attention runs fused (create-session.ts). */
  attentionFused?: boolean;
}

export interface OptimizedModelEntry {
  /** The cached optimized model (exists when `ready`). */
  readonly modelFile: string;
  readonly ready: boolean;
  /** The facts stored with a ready entry (empty when not ready). */
  readonly facts: ModelFacts;
  /** Where onnxruntime should write the optimized model when not `ready`. */
  readonly stagingModelFile: string;
  /** Session config entries (`extra.session`) that make onnxruntime write the weights beside it. */
  readonly saveConfig: { session: Record<string, string> };
  /** Publishes the staged entry with `facts` (after the session that wrote it was created) and drops older entries of the same source. */
  commit(facts: ModelFacts): Promise<void>;
  /** Removes the staged files (the session failed) or a ready entry that no longer loads. */
  discard(): Promise<void>;
}

/** The CPU as onnxruntime's kernels see it: model name and (Linux) instruction-set flags. */
function cpuSignature(): string {
  const model = os.cpus()[0]?.model ?? 'unknown';
  let flags = os.arch();
  try {
    // The flags decide AVX2 vs AVX-512 kernels and the NCHWc block size. Read once per entry: a few KB.
    flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? flags;
  } catch {
    // Not Linux: the model name and architecture only.
  }
  return `${model}|${flags}`;
}

export class OptimizedModelCache {
  private readonly checksums: FileChecksums;

  constructor(
    readonly dir: string,
    /** Everything besides the files that changes what onnxruntime writes (its version, options). */
    private readonly salt: string,
  ) {
    this.checksums = new FileChecksums(path.join(dir, 'checksums.json'));
  }

  /** The cache key of a model file: its folder's files' sums, the salt and the CPU. */
  async keyOf(modelFile: string): Promise<string> {
    const folder = path.dirname(path.resolve(modelFile));
    const hash = createHash('sha256');
    hash.update(`${this.salt}\n${cpuSignature()}\n${path.basename(modelFile)}\n`);
    const names = (await readdir(folder, { withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
    for (const name of names) hash.update(`${name}:${await this.checksums.sha256(path.join(folder, name))}\n`);
    return hash.digest('hex').slice(0, 32);
  }

  async entry(modelFile: string): Promise<OptimizedModelEntry> {
    const source = path.resolve(modelFile);
    const key = await this.keyOf(source);
    const entryDir = path.join(this.dir, key);
    const staging = `${entryDir}.partial-${process.pid}-${Date.now()}`;
    const ready = existsSync(path.join(entryDir, SOURCE_FILE)) && existsSync(path.join(entryDir, MODEL_FILE));
    if (!ready) await mkdir(staging, { recursive: true });
    const facts = ready ? await factsOf(path.join(entryDir, SOURCE_FILE)) : {};
    const dir = this.dir;
    return {
      modelFile: path.join(entryDir, MODEL_FILE),
      ready,
      facts,
      stagingModelFile: path.join(staging, MODEL_FILE),
      saveConfig: {
        session: {
          optimized_model_external_initializers_file_name: WEIGHTS_FILE,
          // Every weight outside the graph: under protobuf's 2 GB limit, and memory-mappable.
          optimized_model_external_initializers_min_size_in_bytes: '1024',
        },
      },
      async commit(facts: ModelFacts) {
        const meta = { source, key, createdAt: new Date().toISOString(), facts };
        await writeFile(path.join(staging, SOURCE_FILE), JSON.stringify(meta));
        try {
          await rename(staging, entryDir);
        } catch {
          // Another process published the same entry first: theirs is as good.
          await rm(staging, { recursive: true, force: true });
          return;
        }
        await dropOlderEntries(dir, source, key);
      },
      async discard() {
        await rm(ready ? entryDir : staging, { recursive: true, force: true });
      },
    };
  }
}

/** The facts an entry's source.json records; none from an unreadable one (the entry then counts as knowing nothing). */
async function factsOf(sourceFile: string): Promise<ModelFacts> {
  try {
    const { facts } = JSON.parse(await readFile(sourceFile, 'utf8')) as { facts?: ModelFacts };
    return { attentionFused: facts?.attentionFused === true };
  } catch {
    return {};
  }
}

/** Removes the other complete entries made from the same source file (it changed since). */
async function dropOlderEntries(dir: string, source: string, keep: string): Promise<void> {
  for (const name of await readdir(dir)) {
    if (name === keep || name.includes('.partial-')) continue;
    const sourceFile = path.join(dir, name, SOURCE_FILE);
    try {
      const meta = JSON.parse(await readFile(sourceFile, 'utf8')) as { source?: string };
      if (meta.source === source) await rm(path.join(dir, name), { recursive: true, force: true });
    } catch {
      // Not an entry (checksums.json) or one being removed by another process.
    }
  }
}

/** Bytes an entry takes on disk (for the docs and the bench). */
export async function entryBytes(modelFile: string): Promise<number> {
  const folder = path.dirname(modelFile);
  let total = 0;
  for (const name of await readdir(folder)) total += (await stat(path.join(folder, name))).size;
  return total;
}
