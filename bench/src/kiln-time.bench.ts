/**
 * Kiln's own time per image, measured without the model's: the real text-to-image pipeline
 * (tokenizer, prompt weighting, torch-exact RNG, scheduler, guidance, tensor copies, VAE scaling,
 * postprocessing) on a model whose three sessions answer at once with outputs of the right shape.
 * What is left is what Kiln adds around onnxruntime, free of onnxruntime's (and the machine's)
 * noise: on a GPU where a 512×512 step takes ~25-50 ms, these milliseconds are what the core
 * overhead ratio would show.
 */
import {
  Mt19937,
  TorchCpuGenerator,
  NoiseAhead,
  boxMuller16,
  createGenerator,
  createScheduler,
  loadSd15Model,
  textToImage,
  type Sd15Model,
  type TextToImageParams,
} from '@kiln/diffusion';
import { MID_MODEL, ensureBenchModel } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import type { BenchSection } from './report.js';
import { fmt, median } from './stats.js';

type Session = Sd15Model['unet'];
type Feeds = Parameters<Session['run']>[0];

/** How long each UNet call of row 1e holds the thread: a 512×512 guided step on a datacenter GPU. */
const HELD_UNET_MS = 25;
const holder = new Int32Array(new SharedArrayBuffer(4));

/**
 * A session that answers instantly: a fresh output buffer per call (as onnxruntime returns), filled
 * from a noise pattern; or after holding the thread `holdMs` without using the CPU, as
 * onnxruntime's `run` does while a GPU computes.
 */
function instantSession(real: Session, output: string, shapeOf: (feeds: Feeds) => number[], holdMs = 0): Session {
  const pattern = createGenerator(1).randn([1 << 20]);
  const stub = Object.create(real) as Session & { runCount: number };
  stub.runCount = 0;
  // A held session stands for an accelerator's: the pipeline treats it as one (noise-ahead.ts).
  if (holdMs > 0) Object.defineProperty(stub, 'executionProvider', { value: 'webgpu' });
  stub.run = async (feeds: Feeds) => {
    if (holdMs > 0) Atomics.wait(holder, 0, 0, holdMs);
    const dims = shapeOf(feeds);
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let at = 0; at < data.length; at += pattern.length)
      data.set(pattern.subarray(0, Math.min(pattern.length, data.length - at)), at);
    stub.runCount++;
    return { [output]: { data, dims } };
  };
  return stub;
}

export function withInstantSessions(model: Sd15Model, unetHoldMs = 0): Sd15Model {
  const textDim = Number(model.textEncoder.outputs.get(model.textOutputName)?.shape[2] ?? 768);
  return {
    ...model,
    textEncoder: instantSession(model.textEncoder, model.textOutputName, (f) => [f.input_ids.dims[0], 77, textDim]),
    unet: instantSession(
      model.unet,
      'out_sample',
      (f) => [f.sample.dims[0], 4, f.sample.dims[2], f.sample.dims[3]],
      unetHoldMs,
    ),
    vaeDecoder: instantSession(model.vaeDecoder, 'sample', (f) => [
      1,
      3,
      f.latent_sample.dims[2] * 8,
      f.latent_sample.dims[3] * 8,
    ]),
    dispose: async () => undefined,
  };
}

export const KILN_TIME_SAMPLERS = [
  'DDIM',
  'DPM_PLUS_PLUS_2M_KARRAS',
  'UNI_PC',
  'K_EULER_ANCESTRAL',
  'DPM_PLUS_PLUS_SDE_KARRAS',
];
const STEPS = 20;
/** One 512×512 latent. */
const LATENT_NUMEL = 4 * 64 * 64;

/** `torch.randn` of one latent as Kiln drew it before its WebAssembly blocks: every lane in TypeScript. */
function laneRandn(seed: number): Float32Array {
  const engine = new Mt19937(seed);
  const data = new Float32Array(LATENT_NUMEL);
  for (let i = 0; i < data.length; i++) data[i] = (engine.nextUint32() & 0xffffff) * 2 ** -24;
  for (let start = 0; start < data.length; start += 16) boxMuller16(data, start);
  return data;
}

/** Kiln's randn against the TypeScript lanes, taking turns call by call: medians in ms. */
function randnTurns(pairs: number) {
  const kiln: number[] = [];
  const lanes: number[] = [];
  for (let i = -3; i < pairs; i++) {
    let started = performance.now();
    const drawn = new TorchCpuGenerator(i + 3).randn([1, 4, 64, 64]);
    const kilnMs = performance.now() - started;
    started = performance.now();
    const reference = laneRandn(i + 3);
    const lanesMs = performance.now() - started;
    if (drawn[LATENT_NUMEL - 1] !== reference[LATENT_NUMEL - 1]) throw new Error('randn differs from the lanes');
    if (i < 0) continue; // warm-up: both paths compiled
    kiln.push(kilnMs);
    lanes.push(lanesMs);
  }
  return { kilnMs: median(kiln), lanesMs: median(lanes) };
}

/**
 * DPM++ SDE Karras's loop over one 512×512 latent, each UNet call holding the thread for
 * {@link HELD_UNET_MS} without using the CPU, as onnxruntime's `run` does while a GPU computes:
 * Kiln's ms beyond the held time, with the Brownian noise drawn ahead or inline.
 */
function heldSdeLoopMs(schedulerConfig: Record<string, unknown>, drawAhead: boolean, seed: number) {
  const scheduler = createScheduler('DPM_PLUS_PLUS_SDE_KARRAS', schedulerConfig);
  scheduler.setTimesteps(STEPS);
  const shape = [1, 4, 64, 64];
  const generators = [new TorchCpuGenerator(seed)];
  const prediction = createGenerator(seed + 1).randn(shape);
  const ahead = new NoiseAhead();
  const options = { shape, generators, brownianNoise: drawAhead ? ahead.source : undefined };
  const started = performance.now();
  try {
    let latents = createGenerator(seed).randn(shape);
    for (const t of scheduler.timesteps) {
      scheduler.scaleModelInput(latents, t);
      if (drawAhead) scheduler.beforeModel?.(t, options);
      Atomics.wait(holder, 0, 0, HELD_UNET_MS);
      latents = scheduler.step(prediction, t, latents, options);
    }
  } finally {
    ahead.close();
  }
  const kilnMs = performance.now() - started - scheduler.timesteps.length * HELD_UNET_MS;
  if (drawAhead && ahead.tally.inline > 0) throw new Error('noise ahead fell back to drawing inline');
  return kilnMs;
}

/** Row 1e's two sides, taking turns: medians of Kiln's ms per image. */
function heldSdeTurns(schedulerConfig: Record<string, unknown>, pairs: number) {
  const ahead: number[] = [];
  const inline: number[] = [];
  for (let i = -1; i < pairs; i++) {
    const order = i % 2 === 0 ? [true, false] : [false, true];
    for (const drawAhead of order) {
      const ms = heldSdeLoopMs(schedulerConfig, drawAhead, 20 + i);
      if (i >= 0) (drawAhead ? ahead : inline).push(ms);
    }
  }
  return { aheadMs: median(ahead), inlineMs: median(inline) };
}

export async function kilnTimeBench(ctx: BenchContext): Promise<BenchSection> {
  const modelDir = await ensureBenchModel(MID_MODEL, ctx.log);
  const real = await loadSd15Model(modelDir);
  const model = withInstantSessions(real);
  const reps = ctx.quick ? 2 : 7;
  const params = (sampler: string, seed: number, images: number): TextToImageParams => ({
    prompt: 'a photograph of an astronaut riding a horse, (highly detailed:1.2)',
    negativePrompt: 'blurry',
    sampler,
    steps: STEPS,
    cfgScale: 7.5,
    width: 512,
    height: 512,
    seeds: Array.from({ length: images }, (_, i) => seed + i),
    clipSkip: 1,
    microBatchSize: 4,
  });
  const results: { sampler: string; oneMs: number; fourMs: number }[] = [];
  const heldPipeline: { sampler: string; kilnMs: number }[] = [];
  try {
    // JIT warm-up of the shared pipeline code, then of each sampler: with one warm-up render per
    // sampler only, the first sampler measured (DDIM) took twice as long when the suite ran alone.
    for (const sampler of KILN_TIME_SAMPLERS) await textToImage(model, params(sampler, 1, 1));
    for (const sampler of KILN_TIME_SAMPLERS) {
      await textToImage(model, params(sampler, 2, 1));
      const one: number[] = [];
      // The slowest sampler takes ~1 s per image: fewer repetitions keep the suite short.
      const samplerReps = sampler === 'DPM_PLUS_PLUS_SDE_KARRAS' ? Math.min(reps, 3) : reps;
      for (let i = 0; i < samplerReps; i++) {
        const started = performance.now();
        await textToImage(model, params(sampler, 10 + i, 1));
        one.push(performance.now() - started);
      }
      const started = performance.now();
      await textToImage(model, params(sampler, 100, 4));
      results.push({ sampler, oneMs: median(one), fourMs: (performance.now() - started) / 4 });
    }
    // The pipeline on a UNet that holds the thread: what is left of each sampler's Kiln time
    // when the model's time is not the CPU's.
    const heldModel = withInstantSessions(real, HELD_UNET_MS);
    const unetCalls = () => (heldModel.unet as Session & { runCount: number }).runCount;
    for (const sampler of ['DDIM', 'DPM_PLUS_PLUS_SDE_KARRAS']) {
      await textToImage(heldModel, params(sampler, 3, 1));
      const kilnMs: number[] = [];
      for (let i = 0; i < (ctx.quick ? 1 : 3); i++) {
        const [started, callsBefore] = [performance.now(), unetCalls()];
        await textToImage(heldModel, params(sampler, 20 + i, 1));
        kilnMs.push(performance.now() - started - (unetCalls() - callsBefore) * HELD_UNET_MS);
      }
      heldPipeline.push({ sampler, kilnMs: median(kilnMs) });
    }
  } finally {
    await real.dispose();
  }
  const randn = randnTurns(ctx.quick ? 10 : 40);
  const heldPairs = ctx.quick ? 2 : 6;
  const held = heldSdeTurns(real.schedulerConfig, heldPairs);
  const ddim = results[0];
  return {
    title: "Kiln's own time per image (zero-cost model)",
    rows: [
      {
        id: '1c',
        what: `Kiln's own time per 512×512 image, ${STEPS} steps DDIM, guidance`,
        value: `${fmt(ddim.oneMs, 1)} ms`,
        goal: '',
        basis: `the real pipeline on sessions that answer at once (${fmt(ddim.oneMs / STEPS, 2)} ms per step); other samplers in the notes`,
        command: reproduce('kiln-time'),
      },
      {
        id: '1d',
        what: 'torch-exact randn of one 512×512 latent: WebAssembly blocks ÷ TypeScript lanes',
        value: fmt(randn.kilnMs / randn.lanesMs, 2),
        goal: '',
        basis: `TorchCpuGenerator.randn([1, 4, 64, 64]) ${fmt(randn.kilnMs, 3)} ms vs the same bits from MT19937 and boxMuller16 in TypeScript ${fmt(randn.lanesMs, 3)} ms (medians of ${ctx.quick ? 10 : 40} calls each, taking turns); ancestral samplers draw one per step, the DPM++ SDE tree ~19`,
        command: reproduce('kiln-time'),
      },
      {
        id: '1e',
        what: `DPM++ SDE, UNet holding the thread ${HELD_UNET_MS} ms per call (a GPU): Kiln time, noise ahead ÷ inline`,
        value: fmt(held.aheadMs / held.inlineMs, 2),
        goal: '',
        basis: `the scheduler's ${STEPS}-step loop (39 UNet calls, each an Atomics.wait of ${HELD_UNET_MS} ms that uses no CPU), time beyond the held calls: ${fmt(held.aheadMs, 1)} ms with the tree's noise drawn on a helper thread during the held calls (noise-ahead.ts) vs ${fmt(held.inlineMs, 1)} ms drawn in the step (medians of ${heldPairs} loops each, taking turns)`,
        command: reproduce('kiln-time'),
      },
    ],
    lines: [
      `The real text-to-image pipeline at 512×512, ${STEPS} steps, cfg 7.5, on ${MID_MODEL.description}'s tokenizer and scheduler config with sessions that return at once (fresh output buffers, as onnxruntime's). Median of ${reps} single-image renders (3 for DPM++ SDE Karras); the 4-image column is one render of 4.`,
      '',
      '| sampler | Kiln ms per image (1 image) | per step | Kiln ms per image (4 images, micro-batch 4) |',
      '|---|---|---|---|',
      ...results.map((r) => `| ${r.sampler} | ${fmt(r.oneMs, 1)} | ${fmt(r.oneMs / STEPS, 2)} | ${fmt(r.fourMs, 1)} |`),
      '',
      `With each UNet call holding the thread ${HELD_UNET_MS} ms instead, without using the CPU (as onnxruntime's run does while a GPU computes, and the session reporting a GPU provider), Kiln's time per image beyond the held calls, median of ${ctx.quick ? 1 : 3}: ${heldPipeline.map((r) => `${r.sampler} ${fmt(r.kilnMs, 1)} ms`).join(', ')} (on an accelerator the pipeline draws DPM++ SDE's Brownian noise on a helper thread, started per render, during the held calls). The scheduler's loop alone (row 1e, a helper per loop): ${fmt(held.aheadMs, 1)} ms with the noise drawn ahead, ${fmt(held.inlineMs, 1)} ms drawn in the step.`,
    ],
  };
}
