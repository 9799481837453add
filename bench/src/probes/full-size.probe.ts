/**
 * Measurements on a full-size model, each mode in a fresh process so that its memory figures are
 * its own and the gigabytes it allocates are returned when it exits. Prints one JSON line.
 *
 *   kiln <modelDir> <size> <warmupSteps> <measuredSteps>: the worker's Renderer: cold load of all
 *     sessions, a cached lookup, resident memory, then (steps > 0) one render with guidance,
 *     timing each denoising step.
 *   bare <modelDir> <size> <warmupRuns> <measuredRuns> [sweepSize]: onnxruntime-node alone on the
 *     UNet (this probe imports it directly on purpose: it is the baseline Kiln is measured
 *     against): session creation, then runs with the same inputs as a guided step; with sweepSize,
 *     the session options sweep at that size.
 */
import * as ort from 'onnxruntime-node';
import path from 'node:path';
import { Renderer } from '@kiln/diffusion';

const [mode, modelDir, sizeArg, warmupArg, measuredArg, sweepArg] = process.argv.slice(2);
const size = Number(sizeArg);
const warmup = Number(warmupArg);
const measured = Number(measuredArg);
const rss = () => process.memoryUsage().rss;
const emit = (result: object) => process.stdout.write(`${JSON.stringify(result)}\n`);

async function kilnProbe() {
  const baseRss = rss();
  const renderer = new Renderer({ executionProvider: 'cpu' });
  let started = performance.now();
  await renderer.warm(modelDir);
  const coldLoadMs = performance.now() - started;
  const loadedRss = rss();
  started = performance.now();
  await renderer.warm(modelDir);
  const cachedMs = performance.now() - started;
  let steps: number[] = [];
  let renderedRss = 0;
  let timings = {};
  if (warmup + measured > 0) {
    const progressAt: number[] = [];
    const result = await renderer.render(
      {
        family: 'sd15',
        modelDir,
        params: {
          prompt: 'a photograph of an astronaut riding a horse',
          negativePrompt: '',
          sampler: 'DDIM',
          steps: warmup + measured,
          cfgScale: 7.5,
          width: size,
          height: size,
          seeds: [42],
          clipSkip: 1,
          microBatchSize: 1,
        },
      },
      { onProgress: () => progressAt.push(performance.now()) },
    );
    // Step i's time is the gap between the progress events of steps i-1 and i (scheduler, guidance, copies and the UNet call).
    steps = progressAt.slice(1).map((t, i) => t - progressAt[i]).slice(warmup - 1);
    renderedRss = rss();
    timings = result.timings;
  }
  await renderer.dispose();
  emit({ coldLoadMs, cachedMs, baseRss, loadedRss, renderedRss, steps, timings });
}

function randomData(count: number, scale: number): Float32Array {
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = (Math.random() * 2 - 1) * scale;
  return data;
}

function tensorFor(session: ort.InferenceSession, name: string, data: Float32Array, dims: number[]): ort.Tensor {
  const meta = session.inputMetadata.find((m) => m.name === name);
  const type = meta && meta.isTensor ? meta.type : 'float32';
  if (type === 'float16') return new ort.Tensor('float16', Uint16Array.from(data, (v) => float16Bits(v)), dims);
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(data, (v) => BigInt(Math.round(v))), dims);
  return new ort.Tensor('float32', data, dims);
}

/** float32 → IEEE half bits (round to nearest; inputs here are small normal numbers). */
function float16Bits(value: number): number {
  const f = new Float32Array([value]);
  const bits = new Uint32Array(f.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  return sign | (exponent << 10) | (((bits >>> 13) & 0x3ff) + ((bits >>> 12) & 1));
}

interface BareResult {
  createMs: number;
  runsMs: number[];
}

async function bareRuns(options: ort.InferenceSession.SessionOptions, at: number, runs: number): Promise<BareResult> {
  let started = performance.now();
  const session = await ort.InferenceSession.create(path.join(modelDir, 'unet', 'model.onnx'), options);
  const createMs = performance.now() - started;
  const latent = at / 8;
  // A guided step: batch 2 (unconditional + text), as Kiln's pipeline feeds the UNet.
  const feeds = {
    sample: tensorFor(session, 'sample', randomData(2 * 4 * latent * latent, 1), [2, 4, latent, latent]),
    timestep: tensorFor(session, 'timestep', new Float32Array([981, 981]), [2]),
    encoder_hidden_states: tensorFor(session, 'encoder_hidden_states', randomData(2 * 77 * 768, 1), [2, 77, 768]),
  };
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    started = performance.now();
    await session.run(feeds);
    runsMs.push(performance.now() - started);
  }
  await session.release();
  return { createMs, runsMs };
}

const KILN_DEFAULT: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  enableCpuMemArena: true,
};

async function bareProbe() {
  const main = await bareRuns(KILN_DEFAULT, size, warmup + measured);
  const sweep: { label: string; createMs: number; runMs: number }[] = [];
  if (sweepArg) {
    const sweepSize = Number(sweepArg);
    const variants: [string, ort.InferenceSession.SessionOptions][] = [
      ["Kiln's default (all optimizations, arena on, onnxruntime's thread count)", KILN_DEFAULT],
      ['intra-op threads 1', { ...KILN_DEFAULT, intraOpNumThreads: 1 }],
      ['intra-op threads 2', { ...KILN_DEFAULT, intraOpNumThreads: 2 }],
      ['graph optimization: extended', { ...KILN_DEFAULT, graphOptimizationLevel: 'extended' }],
      ['graph optimization: basic', { ...KILN_DEFAULT, graphOptimizationLevel: 'basic' }],
      ['graph optimization: disabled', { ...KILN_DEFAULT, graphOptimizationLevel: 'disabled' }],
      ['memory arena off', { ...KILN_DEFAULT, enableCpuMemArena: false }],
    ];
    for (const [label, options] of variants) {
      const r = await bareRuns(options, sweepSize, warmup + measured);
      const timedRuns = r.runsMs.slice(warmup);
      sweep.push({ label, createMs: r.createMs, runMs: timedRuns.reduce((a, b) => a + b, 0) / timedRuns.length });
    }
  }
  emit({ createMs: main.createMs, runsMs: main.runsMs.slice(warmup), firstRunsMs: main.runsMs.slice(0, warmup), sweep });
}

if (mode === 'kiln') await kilnProbe();
else if (mode === 'bare') await bareProbe();
else throw new Error(`unknown probe mode ${mode}`);
