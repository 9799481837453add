/**
 * Items 5 and 6 on full-size SD1.5 (testkit random weights, real dimensions), each probe in a
 * fresh child process (probes/full-size.probe.ts):
 *   5. model loading: cold load of the worker's sessions vs a cached session, the UNet's session
 *      creation alone, and the process's resident memory against the weights' size (fp32, fp16);
 *   6. step time at 512×512 with guidance: Kiln's denoising step vs the bare onnxruntime-node call
 *      on the same model with the same options, and a sweep of the session options.
 * And the GPU run (not part of a default run): seconds per image at 512×512 and 30 steps.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureBenchModel, fullSizeModel, weightBytes } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import { BENCH_DIST } from './paths.js';
import type { BareProbeRequest, BareProbeResult, KilnProbeRequest, KilnProbeResult } from './probes/full-size.probe.js';
import type { BenchRow, BenchSection } from './report.js';
import { fmt, gib, mean } from './stats.js';

const run = promisify(execFile);
export const STEP_SIZE = 512;
/**
 * UNet calls before the timed ones: a fresh CPU session's first two calls at a new size are slower
 * (its memory arena grows and is first touched: 7-9 s instead of 4.6 s per full-size call at
 * 512×512 here), so timing starts at the third.
 */
const WARMUP_STEPS = 2;

function probe(request: KilnProbeRequest): Promise<KilnProbeResult>;
function probe(request: BareProbeRequest): Promise<BareProbeResult>;
async function probe(request: KilnProbeRequest | BareProbeRequest): Promise<KilnProbeResult | BareProbeResult> {
  const { stdout } = await run(
    process.execPath,
    [path.join(BENCH_DIST, 'probes/full-size.probe.js'), JSON.stringify(request)],
    {
      maxBuffer: 1 << 20,
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

export interface FullSizeOptions {
  loading: boolean;
  step: boolean;
}

export async function fullSizeBench(ctx: BenchContext, which: FullSizeOptions): Promise<BenchSection[]> {
  const measured = ctx.quick ? 1 : 2;
  const sections: BenchSection[] = [];
  const fp32Dir = await ensureBenchModel(fullSizeModel(false), ctx.log);
  const fp16Dir = which.loading ? await ensureBenchModel(fullSizeModel(true), ctx.log) : undefined;

  ctx.log(
    `full-size fp32: Kiln worker load${which.step ? ` + ${WARMUP_STEPS + measured} steps at ${STEP_SIZE}×${STEP_SIZE}` : ''}`,
  );
  const kiln32 = await probe({
    mode: 'kiln',
    modelDir: fp32Dir,
    provider: 'cpu',
    size: STEP_SIZE,
    renders: which.step ? 1 : 0,
    warmupSteps: WARMUP_STEPS,
    measuredSteps: measured,
    warmupRender: false,
  });
  ctx.log(
    `full-size fp32: bare onnxruntime${which.step ? ` runs + options sweep at ${ctx.sweepSize}×${ctx.sweepSize}` : ''}`,
  );
  const bare32 = await probe({
    mode: 'bare',
    modelDir: fp32Dir,
    provider: 'cpu',
    size: STEP_SIZE,
    warmupRuns: which.step ? WARMUP_STEPS : 0,
    measuredRuns: which.step ? measured : 0,
    sweepSize: which.step ? ctx.sweepSize : undefined,
  });

  if (which.loading && fp16Dir) {
    ctx.log('full-size fp16: Kiln worker load, bare UNet session creation');
    const kiln16 = await probe({
      mode: 'kiln',
      modelDir: fp16Dir,
      provider: 'cpu',
      size: STEP_SIZE,
      renders: 0,
      warmupSteps: 0,
      measuredSteps: 0,
      warmupRender: false,
    });
    const bare16 = await probe({
      mode: 'bare',
      modelDir: fp16Dir,
      provider: 'cpu',
      size: STEP_SIZE,
      warmupRuns: 0,
      measuredRuns: 0,
    });
    const rows: BenchRow[] = [];
    const lines: string[] = [
      '| precision | weights on disk (all / UNet) | cold load, 4 sessions | UNet session creation (cold) | cached session (next job) | resident after load | resident ÷ weights | resident after a 512×512 step |',
      '|---|---|---|---|---|---|---|---|',
    ];
    for (const [precision, dir, kiln, bare] of [
      ['fp32', fp32Dir, kiln32, bare32],
      ['fp16', fp16Dir, kiln16, bare16],
    ] as const) {
      const weights = await weightBytes(dir);
      const residentRatio = kiln.loadedRss / weights.total;
      rows.push(
        {
          id: precision === 'fp32' ? '5a' : '5b',
          what: `model loading ${precision}: cold UNet session creation vs cached session`,
          value: `${fmt(bare.createMs / 1000, 1)} s vs ${fmt(kiln.cachedMs, 3)} ms`,
          goal: '',
          basis: `cold load of the worker's 4 sessions ${fmt(kiln.coldLoadMs / 1000, 1)} s; cached = the worker's session cache on the next job (model files in the OS page cache)`,
          command: reproduce('loading'),
        },
        {
          id: precision === 'fp32' ? '5c' : '5d',
          what: `worker resident memory ÷ weights' size, ${precision}`,
          value: fmt(residentRatio, 2),
          goal: '',
          basis: `${fmt(gib(kiln.loadedRss), 2)} GiB resident after loading vs ${fmt(gib(weights.total), 2)} GiB of ONNX weights`,
          command: reproduce('loading'),
        },
      );
      lines.push(
        `| ${precision} | ${fmt(gib(weights.total), 2)} / ${fmt(gib(weights.unet), 2)} GiB | ${fmt(kiln.coldLoadMs / 1000, 1)} s | ${fmt(bare.createMs / 1000, 1)} s | ${fmt(kiln.cachedMs, 3)} ms | ${fmt(gib(kiln.loadedRss), 2)} GiB (Node alone ${fmt(gib(kiln.baseRss), 2)}) | ${fmt(residentRatio, 2)} | ${kiln.renderedRss ? `${fmt(gib(kiln.renderedRss), 2)} GiB` : '—'} |`,
      );
    }
    sections.push({ title: 'Item 5: model loading (full-size SD1.5)', rows, lines });
  }

  if (which.step) {
    const [render] = kiln32.renders;
    const kilnStep = mean(render.steps);
    const bareStep = mean(bare32.runsMs);
    const ratio = kilnStep / bareStep;
    const base = bare32.sweep[0];
    const fastest = bare32.sweep.reduce((a, b) => (b.runMs < a.runMs ? b : a));
    const rows: BenchRow[] = [
      {
        id: '6a',
        what: `full-size fp32 step at ${STEP_SIZE}×${STEP_SIZE} with guidance: Kiln ÷ bare onnxruntime`,
        value: fmt(ratio, 3),
        goal: '',
        basis: `Kiln ${fmt(kilnStep / 1000, 2)} s/step vs bare session.run ${fmt(bareStep / 1000, 2)} s (UNet batch 2, same session options; mean of ${measured} steps after ${WARMUP_STEPS} warm-up; fewer steps than a real render, to fit the run in minutes)`,
        command: reproduce('step'),
      },
      {
        id: '6b',
        what: `session options sweep at ${ctx.sweepSize}×${ctx.sweepSize}: fastest ÷ Kiln's default`,
        value: fmt(fastest.runMs / base.runMs, 2),
        goal: '',
        basis: `fastest: ${fastest.label}; every setting in the notes`,
        command: reproduce('step', ctx.sweepSize === 256 ? '' : `--sweep-size ${ctx.sweepSize}`),
      },
    ];
    const lines = [
      `Kiln's timed steps (s): ${render.steps.map((s) => fmt(s / 1000, 2)).join(', ')}; bare runs after warm-up (s): ${bare32.runsMs.map((s) => fmt(s / 1000, 2)).join(', ')}; bare warm-up runs (s): ${bare32.firstRunsMs.map((s) => fmt(s / 1000, 2)).join(', ')}.`,
      `Kiln's whole render (${WARMUP_STEPS + measured} steps, text encoder and VAE decode at ${STEP_SIZE}×${STEP_SIZE} included): ${fmt(render.wallMs / 1000, 1)} s, of which session.run ${fmt(render.onnxMs / 1000, 1)} s.`,
      '',
      `Session options, UNet batch 2 at ${ctx.sweepSize}×${ctx.sweepSize} (bare onnxruntime-node, one fresh session each, ${WARMUP_STEPS} warm-up + ${measured} timed runs):`,
      '',
      '| setting | session creation s | s per UNet call | ÷ default |',
      '|---|---|---|---|',
      ...bare32.sweep.map(
        (s) =>
          `| ${s.label} | ${fmt(s.createMs / 1000, 1)} | ${fmt(s.runMs / 1000, 3)} | ${fmt(s.runMs / base.runMs, 2)} |`,
      ),
    ];
    sections.push({ title: `Item 6: full-size step time (CPU, ${STEP_SIZE}×${STEP_SIZE}, guidance)`, rows, lines });
  }
  return sections;
}

/** The issue's GPU figure: onnxruntime's CUDA provider does 50 steps at 512×512 in about 1.1 s on an A100. */
const CUDA_A100_REFERENCE_S_PER_50_STEPS = 1.1;

/**
 * Seconds per image at 512×512, 30 steps, guidance, on a GPU provider (`--provider webgpu|cuda`),
 * after a short warm-up render; and Kiln's step vs the bare session.run with the same provider.
 */
export async function gpuBench(ctx: BenchContext): Promise<BenchSection> {
  const model = fullSizeModel(ctx.precision === 'fp16');
  const modelDir = await ensureBenchModel(model, ctx.log);
  const steps = ctx.gpuSteps;
  const renders = ctx.quick ? 1 : 3;
  ctx.log(
    `GPU: ${renders} renders of ${steps} steps at ${STEP_SIZE}×${STEP_SIZE} on ${ctx.provider} (${model.description})`,
  );
  const kiln = await probe({
    mode: 'kiln',
    modelDir,
    provider: ctx.provider,
    size: STEP_SIZE,
    renders,
    warmupSteps: WARMUP_STEPS,
    measuredSteps: steps - WARMUP_STEPS,
    warmupRender: true,
  });
  const bare = await probe({
    mode: 'bare',
    modelDir,
    provider: ctx.provider,
    size: STEP_SIZE,
    warmupRuns: 3,
    measuredRuns: 10,
  });
  const perImage = mean(kiln.renders.map((r) => r.wallMs)) / 1000;
  const kilnStep = mean(kiln.renders.flatMap((r) => r.steps));
  const bareStep = mean(bare.runsMs);
  const reference = (CUDA_A100_REFERENCE_S_PER_50_STEPS * steps) / 50;
  const command = reproduce(
    'gpu',
    `--provider ${ctx.provider} --precision ${ctx.precision}${steps === 30 ? '' : ` --gpu-steps ${steps}`}`,
  );
  return {
    title: `GPU: full-size SD1.5 on ${ctx.provider}`,
    rows: [
      {
        id: 'G1',
        what: `seconds per image, ${STEP_SIZE}×${STEP_SIZE}, ${steps} steps, guidance (${ctx.provider}, ${ctx.precision})`,
        value: `${fmt(perImage, 2)} s`,
        goal: '',
        basis: `public figure: onnxruntime's CUDA provider ≈ ${CUDA_A100_REFERENCE_S_PER_50_STEPS} s per 50 steps on an A100 (≈ ${fmt(reference, 2)} s pro rata for ${steps})`,
        command,
      },
      {
        id: 'G2',
        what: `GPU step: Kiln ÷ bare onnxruntime (${ctx.provider})`,
        value: fmt(kilnStep / bareStep, 3),
        goal: '',
        basis: `Kiln ${fmt(kilnStep, 1)} ms/step vs bare session.run ${fmt(bareStep, 1)} ms (UNet batch 2)`,
        command,
      },
    ],
    lines: [
      `Renders (s): ${kiln.renders.map((r) => fmt(r.wallMs / 1000, 2)).join(', ')}; session.run share ${fmt(mean(kiln.renders.map((r) => r.onnxMs / r.wallMs)) * 100, 1)}%; cold load of the 4 sessions ${fmt(kiln.coldLoadMs / 1000, 1)} s.`,
    ],
  };
}
