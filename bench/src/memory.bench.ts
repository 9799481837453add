/**
 * Issue 10 item 1: a worker's peak resident memory per request size on the tiny model, against a
 * memory budget. Each render runs in a fresh process (probes/memory.probe.ts) whose maxRSS is its
 * own; the budget shrinks the micro-batch, and a request that cannot fit is refused. Also prints
 * the estimate of @kiln/memory beside each measurement (docs/memory.md).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { ensureBenchModel, TINY_MODEL } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import { BENCH_DIST } from './paths.js';
import type { MemoryProbeRequest, MemoryProbeResult } from './probes/memory.probe.js';
import type { BenchRow, BenchSection } from './report.js';

const run = promisify(execFile);
const GIB = 2 ** 30;
/** The budget the suite renders under: fits every size below with one image per UNet call. */
export const MEMORY_BENCH_BUDGET = 4 * GIB;
/**
 * glibc returns freed blocks of at least this size to the OS at once, instead of raising its mmap
 * threshold after the first large free and keeping later blocks in per-thread heaps: measured to
 * halve the tiny model's peak at 512×512 (docs/memory.md). Workers should run with it too.
 */
export const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: String(1 << 20) };

/** The cases: its largest request, the sizes below it, and a 10 000-character prompt of BREAKs. */
const CASES: { label: string; width: number; height: number; numImages: number; prompt: string }[] = [
  { label: '512×512 ×1', width: 512, height: 512, numImages: 1, prompt: 'x' },
  { label: '1024×1024 ×1', width: 1024, height: 1024, numImages: 1, prompt: 'x' },
  { label: '1536×1024 ×1', width: 1536, height: 1024, numImages: 1, prompt: 'x' },
  { label: '1536×1024 ×4', width: 1536, height: 1024, numImages: 4, prompt: 'x' },
  {
    label: '512×512, 10 000-char BREAK prompt',
    width: 512,
    height: 512,
    numImages: 1,
    prompt: 'BREAK '.repeat(1667).slice(0, 10_000),
  },
];

async function probe(request: MemoryProbeRequest): Promise<MemoryProbeResult> {
  const { stdout } = await run(
    process.execPath,
    [path.join(BENCH_DIST, 'probes/memory.probe.js'), JSON.stringify(request)],
    {
      maxBuffer: 1 << 20,
      env: { ...process.env, ...MALLOC_ENV },
    },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) as string);
}

const gib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;

export async function memoryBench(ctx: BenchContext): Promise<BenchSection> {
  const modelDir = await ensureBenchModel(TINY_MODEL, ctx.log);
  const rows: BenchRow[] = [];
  const lines = [
    `Tiny model, 2 DDIM steps, guidance 7.5, micro-batch 4 asked, budget ${gib(MEMORY_BENCH_BUDGET)}, ` +
      `each render in a fresh process with MALLOC_MMAP_THRESHOLD_=${MALLOC_ENV.MALLOC_MMAP_THRESHOLD_}.`,
    '',
    '| request | peak RSS | estimate | loaded | after | micro-batch | wall |',
    '|---|---|---|---|---|---|---|',
  ];
  // --quick checks the harness on the two fast cases (the 1536×1024 ×4 render takes minutes here).
  const cases = ctx.quick ? [CASES[0], CASES[CASES.length - 1]] : CASES;
  for (const c of cases) {
    ctx.log(`memory: ${c.label}`);
    const r = await probe({ modelDir, ...c, microBatch: 4, steps: 2, budgetBytes: MEMORY_BENCH_BUDGET, legacy: false });
    const outcome = r.refused ? `refused: ${r.refused}` : `${r.microBatch}`;
    lines.push(
      `| ${c.label} | ${gib(r.peakRss)} | ${r.refused ? '–' : gib(r.estimateBytes)} | ${gib(r.loadedRss)} | ` +
        `${gib(r.afterRss)} | ${outcome} | ${(r.wallMs / 1000).toFixed(1)} s |`,
    );
    rows.push({
      id: `10.1${String.fromCharCode(97 + CASES.indexOf(c))}`,
      what: `peak RSS, ${c.label}`,
      value: gib(r.peakRss),
      goal: `≤ ${gib(MEMORY_BENCH_BUDGET)}`,
      met: r.peakRss <= MEMORY_BENCH_BUDGET,
      basis: r.refused
        ? 'refused before the UNet ran (RenderInputError)'
        : `estimate ${gib(r.estimateBytes)}, micro-batch ${r.microBatch}`,
      command: reproduce('memory'),
      shortfall: r.peakRss > MEMORY_BENCH_BUDGET ? gib(r.peakRss - MEMORY_BENCH_BUDGET) : undefined,
      why: r.peakRss > MEMORY_BENCH_BUDGET ? `the estimate said ${gib(r.estimateBytes)}` : undefined,
    });
  }
  return { title: 'Memory: peak RSS per request size (issue 10)', lines, rows };
}
