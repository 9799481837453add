/**
 * Items 5 and 6 on full-size SD1.5 (testkit random weights, real dimensions), each probe in a
 * fresh child process (probes/full-size.probe.ts):
 *   5. model loading: cold load of the worker's sessions vs a cached session, the UNet's session
 *      creation alone, and the process's resident memory against the weights' size (fp32, fp16);
 *   6. step time at 512×512 with guidance: Kiln's denoising step vs the bare onnxruntime-node call
 *      on the same model with the same options, and a sweep of the session options.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureBenchModel, fullSizeModel, weightBytes } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import { BENCH_DIST } from './paths.js';
import type { BenchRow, BenchSection } from './report.js';
import { fmt, gib, mean } from './stats.js';

const run = promisify(execFile);
export const STEP_SIZE = 512;
/** UNet calls before the timed ones: a fresh session's first calls grow its arena and touch its weights. */
const WARMUP_STEPS = 1;

interface KilnProbe {
  coldLoadMs: number;
  cachedMs: number;
  baseRss: number;
  loadedRss: number;
  renderedRss: number;
  steps: number[];
  timings: { totalMs?: number; onnxMs?: number };
}

interface BareProbe {
  createMs: number;
  runsMs: number[];
  firstRunsMs: number[];
  sweep: { label: string; createMs: number; runMs: number }[];
}

async function probe<T>(args: (string | number)[]): Promise<T> {
  const { stdout } = await run(process.execPath, [path.join(BENCH_DIST, 'probes/full-size.probe.js'), ...args.map(String)], {
    maxBuffer: 1 << 20,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as T;
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

  ctx.log(`full-size fp32: Kiln worker load${which.step ? ` + ${WARMUP_STEPS + measured} steps at ${STEP_SIZE}×${STEP_SIZE}` : ''}`);
  const kiln32 = await probe<KilnProbe>(['kiln', fp32Dir, STEP_SIZE, which.step ? WARMUP_STEPS : 0, which.step ? measured : 0]);
  ctx.log(`full-size fp32: bare onnxruntime${which.step ? ` runs + options sweep at ${ctx.sweepSize}×${ctx.sweepSize}` : ''}`);
  const bare32 = await probe<BareProbe>(
    which.step ? ['bare', fp32Dir, STEP_SIZE, WARMUP_STEPS, measured, ctx.sweepSize] : ['bare', fp32Dir, STEP_SIZE, 0, 0],
  );

  if (which.loading && fp16Dir) {
    ctx.log('full-size fp16: Kiln worker load, bare UNet session creation');
    const kiln16 = await probe<KilnProbe>(['kiln', fp16Dir, STEP_SIZE, 0, 0]);
    const bare16 = await probe<BareProbe>(['bare', fp16Dir, STEP_SIZE, 0, 0]);
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
    const kilnStep = mean(kiln32.steps);
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
        basis: `Kiln ${fmt(kilnStep / 1000, 2)} s/step vs bare session.run ${fmt(bareStep / 1000, 2)} s (UNet batch 2, same session options; mean of ${measured} steps after ${WARMUP_STEPS} warm-up; fewer steps than a real render to fit the run in minutes)`,
        command: reproduce('step'),
      },
      {
        id: '6b',
        what: `session options sweep at ${ctx.sweepSize}×${ctx.sweepSize}: fastest ÷ Kiln's default`,
        value: fmt(fastest.runMs / base.runMs, 2),
        goal: '',
        basis: `fastest: ${fastest.label}; every setting in the notes`,
        command: reproduce('step', ctx.sweepSize === STEP_SIZE ? '' : `--sweep-size ${ctx.sweepSize}`),
      },
    ];
    const lines = [
      `Kiln's steps (s): ${kiln32.steps.map((s) => fmt(s / 1000, 2)).join(', ')}; bare runs after warm-up (s): ${bare32.runsMs.map((s) => fmt(s / 1000, 2)).join(', ')}; bare warm-up runs (s): ${bare32.firstRunsMs.map((s) => fmt(s / 1000, 2)).join(', ')}.`,
      `Kiln's whole render (${WARMUP_STEPS + measured} steps, text encoder and VAE decode at ${STEP_SIZE}×${STEP_SIZE} included): ${fmt((kiln32.timings.totalMs ?? 0) / 1000, 1)} s, of which session.run ${fmt((kiln32.timings.onnxMs ?? 0) / 1000, 1)} s.`,
      '',
      `Session options, UNet batch 2 at ${ctx.sweepSize}×${ctx.sweepSize} (bare onnxruntime-node, one fresh session each):`,
      '',
      '| setting | session creation s | s per UNet call | ÷ default |',
      '|---|---|---|---|',
      ...bare32.sweep.map((s) => `| ${s.label} | ${fmt(s.createMs / 1000, 1)} | ${fmt(s.runMs / 1000, 3)} | ${fmt(s.runMs / base.runMs, 2)} |`),
    ];
    sections.push({ title: `Item 6: full-size step time (CPU, ${STEP_SIZE}×${STEP_SIZE}, guidance)`, rows, lines });
  }
  return sections;
}
