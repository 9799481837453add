/**
 * The models the benchmarks run on, written once under `.bench-models/` (git-ignored) and reused:
 * random weights from the testkit, so no download is needed and every run uses the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { makeTinySd15Model, type MakeSd15ModelOptions } from '@kiln/testkit';
import { BENCH_MODELS_DIR, CLI_ENTRY } from './paths.js';

export interface BenchModel {
  name: string;
  /** How it is made, for the docs. */
  description: string;
  options: MakeSd15ModelOptions;
}

/** The testkit's tiny net (what `npm start` serves by default): per-job costs around the model dominate. */
export const TINY_MODEL: BenchModel = {
  name: 'tiny-sd15',
  description: 'testkit tiny SD1.5 (UNet blocks [32, 64])',
  options: { seed: 0 },
};

/** Wider blocks: one UNet call at 512×512 with guidance takes tens of milliseconds on this machine. */
export const MID_MODEL: BenchModel = {
  name: 'mid-sd15',
  description: 'testkit SD1.5 with UNet blocks [48, 96]',
  options: { seed: 0, blockChannels: [48, 96] },
};

export const fullSizeModel = (fp16: boolean): BenchModel => ({
  name: fp16 ? 'full-sd15-fp16' : 'full-sd15-fp32',
  description: `testkit full-size SD1.5 (real dimensions, random weights, ${fp16 ? 'fp16' : 'fp32'})`,
  options: { seed: 0, fullSize: true, fp16 },
});

const COMPLETE = 'model_index.json';

/** The model's folder, writing it first when it is not there yet (full-size: ~30 s, in a child process). */
export async function ensureBenchModel(model: BenchModel, log: (line: string) => void): Promise<string> {
  const dir = path.join(BENCH_MODELS_DIR, model.name);
  if (existsSync(path.join(dir, COMPLETE)) && existsSync(path.join(dir, 'vae_decoder', 'model.onnx'))) return dir;
  const staging = `${dir}.partial-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  log(`writing ${model.description} to ${dir} (once)`);
  if (model.options.fullSize) {
    // 3.4 GB of weights: a child process keeps that memory out of the benchmark process.
    const args = [CLI_ENTRY, 'models', 'make-tiny', staging, '--full-size', '--seed', String(model.options.seed ?? 0)];
    if (model.options.fp16) args.push('--fp16');
    execFileSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  } else {
    await makeTinySd15Model(staging, model.options);
  }
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  return dir;
}

/** Bytes of ONNX graphs and weights under a model folder (what sessions load). */
export async function weightBytes(dir: string): Promise<{ total: number; unet: number }> {
  let total = 0;
  let unet = 0;
  for (const part of await readdir(dir, { withFileTypes: true })) {
    if (!part.isDirectory()) continue;
    for (const file of await readdir(path.join(dir, part.name))) {
      if (!/\.(onnx|onnx_data|pb)$/.test(file)) continue;
      const size = (await stat(path.join(dir, part.name, file))).size;
      total += size;
      if (part.name === 'unet') unet += size;
    }
  }
  return { total, unet };
}
