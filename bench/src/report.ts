import { readFile, writeFile } from 'node:fs/promises';

/**
 * One benchmark table: every row is a figure measured in this run, its goal, whether the goal is
 * met, and the command that reproduces it. Printed to the console and written to docs/benchmarks.md.
 */

export interface BenchRow {
  /** Issue item and sub-figure, e.g. "1", "2b". */
  id: string;
  what: string;
  /** The figure as shown (a ratio, or milliseconds, …). */
  value: string;
  /** The goal as text ("≤ 1.03"); empty when the issue sets none. */
  goal: string;
  /** undefined when there is no goal. */
  met?: boolean;
  /** What the figure compares, measured side by side in the same run. */
  basis: string;
  /** The command that reproduces this row alone. */
  command: string;
  /** When the goal is missed: by how much ("0.008", "3.4 ms"). */
  shortfall?: string;
  /** When the goal is missed: why, from this run's own numbers. */
  why?: string;
}

/** Extra measurements behind the rows (raw numbers, per-setting results), as Markdown lines. */
export interface BenchSection {
  title: string;
  lines: string[];
  rows: BenchRow[];
}

const verdict = (row: BenchRow) =>
  row.met === undefined ? '' : row.met ? 'met' : row.shortfall ? `MISSED by ${row.shortfall}` : 'MISSED';

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

/** "Goals missed in this run" lines: each missed row with its shortfall and reason. */
export function missedGoals(rows: readonly BenchRow[]): string[] {
  const missed = rows.filter((r) => r.met === false);
  if (missed.length === 0) return ['Every goal is met in this run.'];
  return [
    'Goals missed in this run:',
    '',
    ...missed.map((r) => `- **${r.id}** (${r.what}, goal ${r.goal}): ${verdict(r)}. ${r.why ?? ''}`.trimEnd()),
  ];
}

export function markdownTable(rows: readonly BenchRow[]): string {
  const lines = [
    '| # | figure | value | goal | | measured against (same run) | reproduce |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.id} | ${escapeCell(r.what)} | **${escapeCell(r.value)}** | ${escapeCell(r.goal)} | ${verdict(r)} | ${escapeCell(r.basis)} | \`${r.command}\` |`,
    ),
  ];
  return lines.join('\n');
}

/** A fixed-width console table (no Markdown noise), one line per row, then the reproducing commands. */
export function consoleTable(rows: readonly BenchRow[]): string {
  const header = ['#', 'figure', 'value', 'goal', 'ok'];
  const cells = rows.map((r) => [r.id, r.what, r.value, r.goal, verdict(r)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i])).join('  ');
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line), ''];
  out.push('reproduce one row:');
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.command)) continue;
    seen.add(r.command);
    const ids = rows.filter((x) => x.command === r.command).map((x) => x.id);
    out.push(`  ${ids.join(', ').padEnd(14)} ${r.command}`);
  }
  return out.join('\n');
}

/** The generated blocks of docs/benchmarks.md; everything outside them is written by people. */
export const DOC_MARKERS = {
  results: [
    '<!-- bench:results:start (written by npm run bench; edits here are overwritten) -->',
    '<!-- bench:results:end -->',
  ],
  gpu: [
    '<!-- bench:gpu:start (written by npm run bench -- --only gpu; edits here are overwritten) -->',
    '<!-- bench:gpu:end -->',
  ],
} as const;

/** `doc` with the text between a pair of markers replaced by `body` (the pair appended when missing). */
export function replaceDocSection(doc: string, [start, end]: readonly [string, string], body: string): string {
  const block = `${start}\n${body}\n${end}`;
  const startAt = doc.indexOf(start);
  const endAt = doc.indexOf(end, startAt);
  if (startAt >= 0 && endAt > startAt) return `${doc.slice(0, startAt)}${block}${doc.slice(endAt + end.length)}`;
  return `${doc}${doc.endsWith('\n') || doc === '' ? '' : '\n'}\n${block}\n`;
}

export async function writeDocSection(file: string, markers: readonly [string, string], body: string): Promise<void> {
  const doc = await readFile(file, 'utf8').catch(() => '');
  await writeFile(file, replaceDocSection(doc, markers, body));
}
