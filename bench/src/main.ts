/**
 * `npm run bench`: runs the benchmarks of issue 6 on this machine, prints one table of figures
 * measured side by side in this run, and (on a complete run) writes it to docs/benchmarks.md
 * between the generated-results markers, leaving the hand-written parts of that file alone.
 *
 *   npm run bench                          every suite (a few minutes; the first run also writes the models)
 *   npm run bench -- --only core,queue     some suites: core, queue, batching, api, loading, step
 *   npm run bench -- --quick               fewer repetitions, to check the harness (not written to the docs)
 *   npm run bench -- --sweep-size 512      the session options sweep at 512×512 (slower)
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { apiThroughputBench } from './api-throughput.bench.js';
import { batchingBench } from './batching.bench.js';
import type { BenchContext } from './context.js';
import { coreOverheadBench } from './core-overhead.bench.js';
import { fullSizeBench } from './full-size.bench.js';
import { describeMachine } from './machine.js';
import { BENCHMARKS_DOC } from './paths.js';
import { queueOverheadBench } from './queue-overhead.bench.js';
import { consoleTable, markdownTable, type BenchSection } from './report.js';

const SUITES = ['core', 'queue', 'batching', 'api', 'loading', 'step'] as const;
type Suite = (typeof SUITES)[number];

export const RESULTS_START = '<!-- bench:results:start (written by npm run bench; edits here are overwritten) -->';
export const RESULTS_END = '<!-- bench:results:end -->';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'sweep-size': { type: 'string', default: '256' },
  },
});

const selected = new Set<Suite>(
  values.only ? (values.only.split(',').map((s) => s.trim()) as Suite[]) : [...SUITES],
);
for (const s of selected) {
  if (!SUITES.includes(s)) throw new Error(`--only: unknown suite ${s}; choose from ${SUITES.join(', ')}`);
}
const sweepSize = Number(values['sweep-size']);
if (!Number.isInteger(sweepSize) || sweepSize % 8 !== 0 || sweepSize < 64) throw new Error('--sweep-size must be a multiple of 8, at least 64');

const started = new Date();
const machine = describeMachine();
const log = (line: string) => console.error(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const ctx: BenchContext = { quick: values.quick, sweepSize, log };
log(`machine: ${machine.summary}; load average ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`);

const sections: BenchSection[] = [];
const suites: [Suite, () => Promise<BenchSection | BenchSection[]>][] = [
  ['core', () => coreOverheadBench(ctx)],
  ['queue', () => queueOverheadBench(ctx)],
  ['batching', () => batchingBench(ctx)],
  ['api', () => apiThroughputBench(ctx)],
];
for (const [name, runSuite] of suites) {
  if (!selected.has(name)) continue;
  log(`${name} …`);
  const result = await runSuite();
  sections.push(...(Array.isArray(result) ? result : [result]));
}
if (selected.has('loading') || selected.has('step')) {
  log('full-size …');
  sections.push(...(await fullSizeBench(ctx, { loading: selected.has('loading'), step: selected.has('step') })));
}

const rows = sections.flatMap((s) => s.rows);
const finished = new Date();
const loadAfter = describeMachine().loadAverage;
const minutes = ((finished.getTime() - started.getTime()) / 60_000).toFixed(1);
for (const s of sections) console.log(`\n## ${s.title}\n\n${s.lines.join('\n')}`);
console.log(`\n${consoleTable(rows)}\n`);
console.log(`${rows.length} figures in ${minutes} min on ${machine.summary}`);

const complete = selected.size === SUITES.length && !ctx.quick;
if (complete) {
  const generated = [
    RESULTS_START,
    `Run of ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min, \`npm run bench\`${sweepSize !== 256 ? ` \`--sweep-size ${sweepSize}\`` : ''}.`,
    `Machine: ${machine.summary}. Load average (1/5/15 min) before ${machine.loadAverage.map((l) => l.toFixed(2)).join('/')}, after ${loadAfter.map((l) => l.toFixed(2)).join('/')}.`,
    '',
    markdownTable(rows),
    '',
    ...sections.flatMap((s) => [`### ${s.title}`, '', ...s.lines, '']),
    RESULTS_END,
  ].join('\n');
  const doc = await readFile(BENCHMARKS_DOC, 'utf8').catch(() => '');
  const startAt = doc.indexOf(RESULTS_START);
  const endAt = doc.indexOf(RESULTS_END);
  const next =
    startAt >= 0 && endAt > startAt
      ? `${doc.slice(0, startAt)}${generated}${doc.slice(endAt + RESULTS_END.length)}`
      : `${doc}\n${generated}\n`;
  await writeFile(BENCHMARKS_DOC, next);
  console.log(`wrote the table to ${BENCHMARKS_DOC}`);
} else {
  console.log('partial or quick run: docs/benchmarks.md left as it is (a complete `npm run bench` writes it)');
}
