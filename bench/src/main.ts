/**
 * `npm run bench`: runs the benchmarks of issue 6 on this machine, prints one table of figures
 * measured side by side in this run, and (on a complete run) writes it to docs/benchmarks.md
 * between the generated-results markers, leaving the hand-written parts of that file alone.
 *
 *   npm run bench                          every CPU suite (about 6 minutes on 2 cores; the first run also writes the models)
 *   npm run bench -- --only core,queue     some suites: core, kiln-time, queue, batching, api, loading, step, memory
 *   npm run bench -- --quick               fewer repetitions, to check the harness (not written to the docs)
 *   npm run bench -- --sweep-size 512      the session options sweep at 512×512 (slower)
 *   npm run bench -- --only gpu --provider webgpu [--precision fp16] [--gpu-steps 30]
 *                                          on a GPU machine: seconds per image at 512×512 (not in a default run)
 */
import { parseArgs } from 'node:util';
import { apiThroughputBench } from './api-throughput.bench.js';
import { batchingBench } from './batching.bench.js';
import type { BenchContext } from './context.js';
import { coreOverheadBench } from './core-overhead.bench.js';
import { kilnTimeBench } from './kiln-time.bench.js';
import { memoryBench } from './memory.bench.js';
import { fullSizeBench, gpuBench } from './full-size.bench.js';
import { describeMachine } from './machine.js';
import { BENCHMARKS_DOC } from './paths.js';
import { queueOverheadBench } from './queue-overhead.bench.js';
import { DOC_MARKERS, consoleTable, markdownTable, missedGoals, writeDocSection, type BenchSection } from './report.js';

const SUITES = ['core', 'kiln-time', 'queue', 'batching', 'api', 'loading', 'step', 'memory'] as const;
/** Suites that run only when named with --only (they need hardware this machine may lack). */
const ON_REQUEST = ['gpu'] as const;
type Suite = (typeof SUITES)[number] | (typeof ON_REQUEST)[number];
const PROVIDERS = ['cpu', 'cuda', 'webgpu', 'auto'] as const;

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'sweep-size': { type: 'string', default: '256' },
    provider: { type: 'string', default: 'webgpu' },
    precision: { type: 'string', default: 'fp16' },
    'gpu-steps': { type: 'string', default: '30' },
  },
});

const selected = new Set<Suite>(values.only ? (values.only.split(',').map((s) => s.trim()) as Suite[]) : [...SUITES]);
const known: readonly string[] = [...SUITES, ...ON_REQUEST];
for (const s of selected) {
  if (!known.includes(s)) throw new Error(`--only: unknown suite ${s}; choose from ${known.join(', ')}`);
}
const sweepSize = Number(values['sweep-size']);
if (!Number.isInteger(sweepSize) || sweepSize % 8 !== 0 || sweepSize < 64)
  throw new Error('--sweep-size must be a multiple of 8, at least 64');
const provider = values.provider as (typeof PROVIDERS)[number];
if (!PROVIDERS.includes(provider)) throw new Error(`--provider must be one of ${PROVIDERS.join(', ')}`);
if (values.precision !== 'fp16' && values.precision !== 'fp32') throw new Error('--precision must be fp16 or fp32');
const gpuSteps = Number(values['gpu-steps']);
if (!Number.isInteger(gpuSteps) || gpuSteps < 3)
  throw new Error('--gpu-steps must be an integer of at least 3 (2 warm-up steps are not timed)');

const started = new Date();
const machine = describeMachine(selected.has('gpu') ? provider : undefined);
const log = (line: string) =>
  console.error(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const ctx: BenchContext = { quick: values.quick, sweepSize, provider, precision: values.precision, gpuSteps, log };
log(`machine: ${machine.summary}; load average ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`);

const sections: BenchSection[] = [];
const plan: [string, () => Promise<BenchSection | BenchSection[]>][] = [];
if (selected.has('core')) plan.push(['core', () => coreOverheadBench(ctx)]);
if (selected.has('kiln-time')) plan.push(['kiln-time', () => kilnTimeBench(ctx)]);
if (selected.has('queue')) plan.push(['queue', () => queueOverheadBench(ctx)]);
if (selected.has('batching')) plan.push(['batching', () => batchingBench(ctx)]);
if (selected.has('api')) plan.push(['api', () => apiThroughputBench(ctx)]);
if (selected.has('loading') || selected.has('step')) {
  plan.push(['full-size', () => fullSizeBench(ctx, { loading: selected.has('loading'), step: selected.has('step') })]);
}
if (selected.has('memory')) plan.push(['memory', () => memoryBench(ctx)]);
if (selected.has('gpu')) plan.push(['gpu', () => gpuBench(ctx)]);
/** Suites that threw: the others still report, and an incomplete table is not written to the docs. */
const failures: string[] = [];
for (const [name, runSuite] of plan) {
  log(`${name} …`);
  try {
    const result = await runSuite();
    sections.push(...(Array.isArray(result) ? result : [result]));
  } catch (err) {
    failures.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    log(`${name} FAILED: ${(err as Error).stack ?? err}`);
  }
}

const rows = sections.flatMap((s) => s.rows);
const finished = new Date();
const loadAfter = describeMachine(selected.has('gpu') ? provider : undefined).loadAverage;
const minutes = ((finished.getTime() - started.getTime()) / 60_000).toFixed(1);
for (const s of sections) console.log(`\n## ${s.title}\n\n${s.lines.join('\n')}`);
console.log(`\n${consoleTable(rows)}\n`);
if (rows.some((r) => r.met === false)) console.log(`${missedGoals(rows).join('\n')}\n`);
console.log(`${rows.length} figures in ${minutes} min on ${machine.summary}`);

for (const f of failures) console.log(`FAILED ${f}`);
const complete = SUITES.every((s) => selected.has(s)) && !ctx.quick && failures.length === 0;
const heading = [
  `Run of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min, \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`.`,
  `Machine: ${machine.summary}. Load average (1/5/15 min) before ${machine.loadAverage.map((l) => l.toFixed(2)).join('/')}, after ${loadAfter.map((l) => l.toFixed(2)).join('/')}.`,
];
const body = [
  ...heading,
  '',
  markdownTable(rows),
  '',
  ...missedGoals(rows),
  '',
  ...sections.flatMap((s) => [`### ${s.title}`, '', ...s.lines, '']),
].join('\n');
if (complete) {
  await writeDocSection(BENCHMARKS_DOC, DOC_MARKERS.results, body);
  console.log(`wrote the table to ${BENCHMARKS_DOC}`);
} else if (selected.size === 1 && selected.has('gpu') && !ctx.quick && failures.length === 0) {
  await writeDocSection(BENCHMARKS_DOC, DOC_MARKERS.gpu, body);
  console.log(`wrote the GPU table to ${BENCHMARKS_DOC}`);
} else {
  console.log('partial, quick or failed run: docs/benchmarks.md left as it is (a complete `npm run bench` writes it)');
}
process.exitCode = failures.length ? 1 : 0;
