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
import { readFileSync } from 'node:fs';
import { OnnxModel, Renderer, type ExecutionProvider, type SessionSettings } from '@kiln/diffusion';
import { median } from '../stats.js';

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
  /** The optimized-model cache folder (as a worker's KILN_OPTIMIZED_MODEL_CACHE); absent: none. */
  cacheDir?: string;
}

export interface BareProbeRequest {
  mode: 'bare';
  modelDir: string;
  provider: ExecutionProvider;
  size: number;
  warmupRuns: number;
  measuredRuns: number;
  sweepSize?: number;
  /** Calls per sweep setting (default: warmupRuns + measuredRuns, the first warmupRuns untimed). */
  sweepWarmupRuns?: number;
  sweepMeasuredRuns?: number;
}

/**
 * Kiln's UNet session (default settings) and a bare onnxruntime session with no options on the
 * unmodified export, in one process, taking turns call by call so that a busy moment of the
 * machine hits both: the figure of the "done when". A third session, bare but given Kiln's
 * intra-op thread count, separates what Kiln's graph work gains from what its thread count gains
 * (onnxruntime's own count depends on how it reads the host's topology).
 */
export interface PairProbeRequest {
  mode: 'pair';
  modelDir: string;
  size: number;
  warmupRuns: number;
  measuredRuns: number;
}

export interface PairProbeResult {
  /** Per timed call, wall and CPU (user + system) ms. */
  kiln: { wallMs: number; cpuMs: number }[];
  bare: { wallMs: number; cpuMs: number }[];
  bareAtKilnThreads: { wallMs: number; cpuMs: number }[];
  /** Kiln's intra-op thread count, given to `bareAtKilnThreads` too. */
  kilnThreads: number;
}

export interface KilnProbeResult {
  coldLoadMs: number;
  cachedMs: number;
  baseRss: number;
  loadedRss: number;
  renderedRss: number;
  /** Resident memory split: anonymous (heap, arena, prepacked weights) and file-backed (memory-mapped weights). */
  loaded: MemorySplit;
  rendered?: MemorySplit;
  /** Peak resident memory of the process (loading included). */
  peakRss: number;
  /** Per timed render: wall ms, the timed steps' ms, session.run ms. */
  renders: { wallMs: number; steps: number[]; onnxMs: number }[];
}

export interface BareProbeResult {
  createMs: number;
  runsMs: number[];
  firstRunsMs: number[];
  /** Per setting: its median call and Kiln's default's in the same turns (the default's own row: both its median). */
  sweep: { label: string; createMs: number; runMs: number; referenceMs: number; repeated?: boolean }[];
}

/**
 * A setting's turns are measured again (once) when Kiln's default ran this much slower or faster
 * in them than its median over the whole sweep: the pairing was disturbed. In the 18:09 run of
 * 2026-12-03 the default took 1.673 s per call in one setting's turns against 1.21–1.34 s in all
 * the others, which made that setting (1.454 s, slower than the default anywhere else) read 0.87.
 */
const DISTURBED_TURNS = 0.1;

const rss = () => process.memoryUsage().rss;

export interface MemorySplit {
  anon: number;
  file: number;
}

/** Linux's RssAnon / RssFile of this process, in bytes. */
function memorySplit(): MemorySplit {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { anon: kb('RssAnon'), file: kb('RssFile') };
}
const emit = (result: KilnProbeResult | BareProbeResult | PairProbeResult) =>
  process.stdout.write(`${JSON.stringify(result)}\n`);

async function kilnProbe(r: KilnProbeRequest): Promise<KilnProbeResult> {
  const baseRss = rss();
  const renderer = new Renderer({
    executionProvider: r.provider,
    ...(r.cacheDir && { optimizedModelCacheDir: r.cacheDir }),
  });
  let started = performance.now();
  await renderer.warm(r.modelDir);
  const coldLoadMs = performance.now() - started;
  const loadedRss = rss();
  const loaded = memorySplit();
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
  const rendered = r.renders > 0 ? memorySplit() : undefined;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  await renderer.dispose();
  return { coldLoadMs, cachedMs, baseRss, loadedRss, renderedRss, loaded, rendered, peakRss, renders };
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

function tensorFor(
  session: ort.InferenceSession | OnnxModel,
  name: string,
  data: Float32Array,
  dims: number[],
): ort.Tensor {
  const type = inputType(session, name);
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

/** What a sweep variant creates: a bare session with these options, or Kiln's OnnxModel with these settings. */
type Variant = { ort: ort.InferenceSession.SessionOptions } | { kiln: SessionSettings };

/** The run surface shared by a bare session and Kiln's OnnxModel (Kiln's converts nothing for float32 inputs). */
async function createRunner(
  file: string,
  variant: Variant,
): Promise<{
  session: ort.InferenceSession | OnnxModel;
  run(feeds: Record<string, ort.Tensor>): Promise<unknown>;
  release(): Promise<void>;
}> {
  if ('ort' in variant) {
    const session = await ort.InferenceSession.create(file, variant.ort);
    return { session, run: (feeds) => session.run(feeds), release: () => session.release() };
  }
  const model = await OnnxModel.load(file, variant.kiln);
  return {
    session: model,
    run: (feeds) =>
      model.run(
        Object.fromEntries(
          Object.entries(feeds).map(([name, t]) => [name, { data: t.data as Float32Array, dims: t.dims }]),
        ),
      ),
    release: () => model.dispose(),
  };
}

/** Random step inputs per size, drawn once: every session of a probe runs on the same values. */
const stepData = new Map<string, { sample: Float32Array; context: Float32Array }>();

/** The inputs of a guided step at `at`×`at`: batch 2 (unconditional + text), as Kiln's pipeline feeds the UNet. */
function stepFeeds(session: ort.InferenceSession | OnnxModel, at: number): Record<string, ort.Tensor> {
  const latent = at / 8;
  const dim = contextDim(session);
  const key = `${at}|${dim}`;
  const data = stepData.get(key) ?? {
    sample: randomData(2 * 4 * latent * latent, 1),
    context: randomData(2 * 77 * dim, 1),
  };
  stepData.set(key, data);
  return {
    sample: tensorFor(session, 'sample', data.sample, [2, 4, latent, latent]),
    timestep: tensorFor(session, 'timestep', new Float32Array([981, 981]), [2]),
    encoder_hidden_states: tensorFor(session, 'encoder_hidden_states', data.context, [2, 77, dim]),
  };
}

/** A runner with its step inputs, and how long it took to create. */
async function loadRunner(file: string, variant: Variant, at: number) {
  const started = performance.now();
  const runner = await createRunner(file, variant);
  return { ...runner, createMs: performance.now() - started, feeds: stepFeeds(runner.session, at) };
}

type LoadedRunner = Awaited<ReturnType<typeof loadRunner>>;

/** Wall and CPU (user + system) ms of one call. */
async function timedCall(runner: LoadedRunner) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await runner.run(runner.feeds);
  const used = process.cpuUsage(cpu);
  return { wallMs: performance.now() - started, cpuMs: (used.user + used.system) / 1000 };
}

/**
 * One sweep setting against Kiln's default, taking turns call by call (alternating which goes
 * first) so that the machine's load falls on both: medians of the timed calls of each.
 */
async function againstDefault(reference: LoadedRunner, runner: LoadedRunner, warmup: number, measured: number) {
  const runMs: number[] = [];
  const referenceMs: number[] = [];
  for (let i = 0; i < warmup + measured; i++) {
    const order: [LoadedRunner, number[]][] = [
      [runner, runMs],
      [reference, referenceMs],
    ];
    if (i % 2 === 1) order.reverse();
    for (const [side, times] of order) {
      const { wallMs } = await timedCall(side);
      if (i >= warmup) times.push(wallMs);
    }
  }
  return { runMs: median(runMs), referenceMs: median(referenceMs) };
}

function inputType(session: ort.InferenceSession | OnnxModel, name: string): string {
  if (session instanceof OnnxModel) return session.inputs.get(name)?.type ?? 'float32';
  const meta = session.inputMetadata.find((m) => m.name === name);
  return meta && meta.isTensor ? meta.type : 'float32';
}

function contextDim(session: ort.InferenceSession | OnnxModel): number {
  if (session instanceof OnnxModel) return Number(session.inputs.get('encoder_hidden_states')?.shape[2] ?? 768);
  const context = session.inputMetadata.find((m) => m.name === 'encoder_hidden_states');
  return context?.isTensor ? Number(context.shape[2]) : 768;
}

/**
 * onnxruntime-node's defaults on the unmodified export: no options but the provider (graph
 * optimization all, arena and memory pattern on, onnxruntime's own thread count, pinned).
 */
function onnxruntimeDefaults(provider: ExecutionProvider): ort.InferenceSession.SessionOptions {
  return { executionProviders: provider === 'cpu' || provider === 'auto' ? ['cpu'] : [provider, 'cpu'] };
}

async function bareProbe(r: BareProbeRequest): Promise<BareProbeResult> {
  const file = path.join(r.modelDir, 'unet', 'model.onnx');
  const defaults = onnxruntimeDefaults(r.provider);
  const main = await loadRunner(file, { ort: defaults }, r.size);
  const runsMs: number[] = [];
  for (let i = 0; i < r.warmupRuns + r.measuredRuns; i++) runsMs.push((await timedCall(main)).wallMs);
  await main.release();
  const sweep: BareProbeResult['sweep'] = [];
  const cores = os.availableParallelism();
  if (r.sweepSize) {
    const kiln: SessionSettings = { executionProvider: r.provider };
    // Each variant changes one thing from Kiln's default, and takes turns with it.
    const variants: [string, Variant][] = [
      ["onnxruntime's defaults on the unmodified export (no options)", { ort: defaults }],
      ["Kiln's options without Kiln's fusions", { kiln: { ...kiln, graphFusions: false } }],
      ['Kiln, intra-op threads: no spinning', { kiln: { ...kiln, allowSpinning: false } }],
      ['Kiln, intra-op threads 1', { kiln: { ...kiln, intraOpThreads: 1 } }],
      [`Kiln, intra-op threads ${cores * 2} (2 per logical core)`, { kiln: { ...kiln, intraOpThreads: cores * 2 } }],
      ['Kiln, memory arena off', { kiln: { ...kiln, enableCpuMemArena: false } }],
      [
        'Kiln, graph optimization: extended (no NCHWc layout)',
        { kiln: { ...kiln, graphOptimizationLevel: 'extended' } },
      ],
    ];
    const warmup = r.sweepWarmupRuns ?? r.warmupRuns;
    const measured = r.sweepMeasuredRuns ?? r.measuredRuns;
    const size = r.sweepSize;
    const reference = await loadRunner(file, { kiln }, size);
    const measure = async (label: string, options: Variant) => {
      const runner = await loadRunner(file, options, size);
      const turns = await againstDefault(reference, runner, warmup, measured);
      await runner.release();
      return { label, createMs: runner.createMs, ...turns };
    };
    for (const [label, options] of variants) sweep.push(await measure(label, options));
    let referenceMs = median(sweep.map((v) => v.referenceMs));
    for (const [i, [label, options]] of variants.entries()) {
      if (Math.abs(sweep[i].referenceMs / referenceMs - 1) <= DISTURBED_TURNS) continue;
      sweep[i] = { ...(await measure(label, options)), repeated: true };
    }
    referenceMs = median(sweep.map((v) => v.referenceMs));
    await reference.release();
    sweep.unshift({
      label: "Kiln's default (attention fused, intra-op threads = physical cores, spinning on, UNet arena on)",
      createMs: reference.createMs,
      runMs: referenceMs,
      referenceMs,
    });
  }
  return {
    createMs: main.createMs,
    runsMs: runsMs.slice(r.warmupRuns),
    firstRunsMs: runsMs.slice(0, r.warmupRuns),
    sweep,
  };
}

async function pairProbe(r: PairProbeRequest): Promise<PairProbeResult> {
  const file = path.join(r.modelDir, 'unet', 'model.onnx');
  const bare = await loadRunner(file, { ort: onnxruntimeDefaults('cpu') }, r.size);
  const kiln = await loadRunner(file, { kiln: { executionProvider: 'cpu' } }, r.size);
  const kilnThreads = (kiln.session as OnnxModel).intraOpThreads;
  const bareAtKilnThreads = await loadRunner(
    file,
    { ort: { ...onnxruntimeDefaults('cpu'), intraOpNumThreads: kilnThreads } },
    r.size,
  );
  const runners = { kiln, bare, bareAtKilnThreads };
  const result: PairProbeResult = { kiln: [], bare: [], bareAtKilnThreads: [], kilnThreads };
  const sides = ['bare', 'kiln', 'bareAtKilnThreads'] as const;
  for (let i = 0; i < r.warmupRuns + r.measuredRuns; i++) {
    // Rotate which goes first, so none always runs right after another's memory traffic.
    const order = sides.map((_, k) => sides[(i + k) % sides.length]);
    for (const side of order) {
      const call = await timedCall(runners[side]);
      if (i >= r.warmupRuns) result[side].push(call);
    }
  }
  await Promise.all(Object.values(runners).map((runner) => runner.release()));
  return result;
}

const request = JSON.parse(process.argv[2] ?? '{}') as KilnProbeRequest | BareProbeRequest | PairProbeRequest;
if (request.mode === 'kiln') emit(await kilnProbe(request));
else if (request.mode === 'pair') emit(await pairProbe(request));
else if (request.mode === 'bare') emit(await bareProbe(request));
else throw new Error(`full-size probe: unknown mode in ${process.argv[2]}`);
