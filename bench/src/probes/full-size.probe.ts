/**
 * Measurements on a full-size model, each in a fresh process so that its memory figures are its
 * own and the gigabytes it allocates are returned when it exits. Takes one JSON argument (a
 * ProbeRequest) and prints one JSON line.
 *
 *   kiln: the worker's Renderer: cold load of all sessions, a cached lookup, resident memory,
 *     then renders with guidance, timing each denoising step.
 *   bare: onnxruntime-node alone on the UNet (this probe imports it directly on purpose: it is the
 *     baseline Kiln is measured against): session creation, then runs with the same inputs as a
 *     guided step; with `sweepSize`, the session options sweep at that size.
 */
import * as ort from 'onnxruntime-node';
import os from 'node:os';
import path from 'node:path';
import { Renderer, type ExecutionProvider } from '@kiln/diffusion';

export interface KilnProbeRequest {
  mode: 'kiln';
  modelDir: string;
  provider: ExecutionProvider;
  size: number;
  /** Renders to time (0: load only); each has `warmupSteps + measuredSteps` steps. */
  renders: number;
  warmupSteps: number;
  measuredSteps: number;
  /** A short render first, so that the timed ones run on a warm session. */
  warmupRender: boolean;
}

export interface BareProbeRequest {
  mode: 'bare';
  modelDir: string;
  provider: ExecutionProvider;
  size: number;
  warmupRuns: number;
  measuredRuns: number;
  sweepSize?: number;
}

export interface KilnProbeResult {
  coldLoadMs: number;
  cachedMs: number;
  baseRss: number;
  loadedRss: number;
  renderedRss: number;
  /** Per timed render: wall ms, the timed steps' ms, session.run ms. */
  renders: { wallMs: number; steps: number[]; onnxMs: number }[];
}

export interface BareProbeResult {
  createMs: number;
  runsMs: number[];
  firstRunsMs: number[];
  sweep: { label: string; createMs: number; runMs: number }[];
}

const rss = () => process.memoryUsage().rss;
const emit = (result: KilnProbeResult | BareProbeResult) => process.stdout.write(`${JSON.stringify(result)}\n`);

async function kilnProbe(r: KilnProbeRequest): Promise<KilnProbeResult> {
  const baseRss = rss();
  const renderer = new Renderer({ executionProvider: r.provider });
  let started = performance.now();
  await renderer.warm(r.modelDir);
  const coldLoadMs = performance.now() - started;
  const loadedRss = rss();
  started = performance.now();
  await renderer.warm(r.modelDir);
  const cachedMs = performance.now() - started;

  const render = async (steps: number, seed: number) => {
    const progressAt: number[] = [];
    const begun = performance.now();
    const result = await renderer.render(
      {
        family: 'sd15',
        modelDir: r.modelDir,
        params: {
          prompt: 'a photograph of an astronaut riding a horse',
          negativePrompt: '',
          sampler: 'DDIM',
          steps,
          cfgScale: 7.5,
          width: r.size,
          height: r.size,
          seeds: [seed],
          clipSkip: 1,
          microBatchSize: 1,
        },
      },
      { onProgress: (p) => p.step <= steps && progressAt.length < steps && progressAt.push(performance.now()) },
    );
    const wallMs = performance.now() - begun;
    // Step i's time is the gap between the progress events of steps i-1 and i (scheduler, guidance, copies and the UNet call).
    const stepMs = progressAt.slice(1).map((t, i) => t - progressAt[i]);
    return { wallMs, steps: stepMs.slice(Math.max(0, r.warmupSteps - 1)), onnxMs: result.timings.onnxMs };
  };

  if (r.warmupRender && r.renders > 0) await render(2, 1);
  const renders: KilnProbeResult['renders'] = [];
  for (let i = 0; i < r.renders; i++) renders.push(await render(r.warmupSteps + r.measuredSteps, 42 + i));
  const renderedRss = r.renders > 0 ? rss() : 0;
  await renderer.dispose();
  return { coldLoadMs, cachedMs, baseRss, loadedRss, renderedRss, renders };
}

function randomData(count: number, scale: number): Float32Array {
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = (Math.random() * 2 - 1) * scale;
  return data;
}

/** float32 → IEEE half bits (round to nearest; inputs here are small normal numbers). */
function float16Bits(value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  return sign | (exponent << 10) | (((bits >>> 13) & 0x3ff) + ((bits >>> 12) & 1));
}

function tensorFor(session: ort.InferenceSession, name: string, data: Float32Array, dims: number[]): ort.Tensor {
  const meta = session.inputMetadata.find((m) => m.name === name);
  const type = meta && meta.isTensor ? meta.type : 'float32';
  if (type === 'float16')
    return new ort.Tensor(
      'float16',
      Uint16Array.from(data, (v) => float16Bits(v)),
      dims,
    );
  if (type === 'int64')
    return new ort.Tensor(
      'int64',
      BigInt64Array.from(data, (v) => BigInt(Math.round(v))),
      dims,
    );
  return new ort.Tensor('float32', data, dims);
}

async function bareRuns(modelDir: string, options: ort.InferenceSession.SessionOptions, at: number, runs: number) {
  let started = performance.now();
  const session = await ort.InferenceSession.create(path.join(modelDir, 'unet', 'model.onnx'), options);
  const createMs = performance.now() - started;
  const latent = at / 8;
  const context = session.inputMetadata.find((m) => m.name === 'encoder_hidden_states');
  const dim = context?.isTensor ? Number(context.shape[2]) : 768;
  // A guided step: batch 2 (unconditional + text), as Kiln's pipeline feeds the UNet.
  const feeds = {
    sample: tensorFor(session, 'sample', randomData(2 * 4 * latent * latent, 1), [2, 4, latent, latent]),
    timestep: tensorFor(session, 'timestep', new Float32Array([981, 981]), [2]),
    encoder_hidden_states: tensorFor(session, 'encoder_hidden_states', randomData(2 * 77 * dim, 1), [2, 77, dim]),
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

/** The session options Kiln's OnnxModel uses by default, for the same provider. */
function kilnDefaults(provider: ExecutionProvider): ort.InferenceSession.SessionOptions {
  const providers = provider === 'cpu' || provider === 'auto' ? ['cpu'] : [provider, 'cpu'];
  return { executionProviders: providers, graphOptimizationLevel: 'all', enableCpuMemArena: true };
}

async function bareProbe(r: BareProbeRequest): Promise<BareProbeResult> {
  const defaults = kilnDefaults(r.provider);
  const main = await bareRuns(r.modelDir, defaults, r.size, r.warmupRuns + r.measuredRuns);
  const sweep: BareProbeResult['sweep'] = [];
  const cores = os.availableParallelism();
  if (r.sweepSize) {
    const variants: [string, ort.InferenceSession.SessionOptions][] = [
      ["Kiln's default (all optimizations, arena on, onnxruntime's thread count)", defaults],
      ['intra-op threads 1', { ...defaults, intraOpNumThreads: 1 }],
      [`intra-op threads ${cores} (every logical core, set explicitly)`, { ...defaults, intraOpNumThreads: cores }],
      ['intra-op threads: no spinning', { ...defaults, extra: { session: { intra_op: { allow_spinning: '0' } } } }],
      ['graph optimization: extended', { ...defaults, graphOptimizationLevel: 'extended' }],
      ['graph optimization: basic', { ...defaults, graphOptimizationLevel: 'basic' }],
      ['graph optimization: disabled', { ...defaults, graphOptimizationLevel: 'disabled' }],
      ['memory arena off', { ...defaults, enableCpuMemArena: false }],
    ];
    for (const [label, options] of variants) {
      const v = await bareRuns(r.modelDir, options, r.sweepSize, r.warmupRuns + r.measuredRuns);
      const timed = v.runsMs.slice(r.warmupRuns);
      sweep.push({ label, createMs: v.createMs, runMs: timed.reduce((a, b) => a + b, 0) / timed.length });
    }
  }
  return {
    createMs: main.createMs,
    runsMs: main.runsMs.slice(r.warmupRuns),
    firstRunsMs: main.runsMs.slice(0, r.warmupRuns),
    sweep,
  };
}

const request = JSON.parse(process.argv[2] ?? '{}') as KilnProbeRequest | BareProbeRequest;
if (request.mode === 'kiln') emit(await kilnProbe(request));
else if (request.mode === 'bare') emit(await bareProbe(request));
else throw new Error(`full-size probe: unknown mode in ${process.argv[2]}`);
