/**
 * The benchmark runner's bookkeeping (bench/src): percentiles as numpy computes them, the table's
 * verdicts, and docs/benchmarks.md rewritten only between its generated-results markers, so the
 * hand-written analysis around the table survives every run.
 */
import { describe, expect, it } from 'vitest';
import { DOC_MARKERS, markdownTable, missedGoals, replaceDocSection, type BenchRow } from '../bench/src/report.js';
import { quantile } from '../bench/src/stats.js';

describe('quantile', () => {
  it('interpolates between order statistics as numpy.quantile does', () => {
    const samples = [15, 1, 7, 3, 9];
    expect(quantile(samples, 0.5)).toBe(7);
    expect(quantile(samples, 0)).toBe(1);
    expect(quantile(samples, 1)).toBe(15);
    expect(quantile(samples, 0.25)).toBe(3); // numpy.quantile([1,3,7,9,15], .25) == 3.0
    expect(quantile(samples, 0.99)).toBeCloseTo(14.76, 10); // 9 + (15 - 9) * 0.96
    expect(() => quantile([], 0.5)).toThrow();
  });
});

describe('the table', () => {
  const row = (over: Partial<BenchRow>): BenchRow => ({
    id: '1',
    what: 'x',
    value: '1.01',
    goal: '≤ 1.03',
    basis: 'a | b',
    command: 'npm run bench -- --only core',
    ...over,
  });

  it('says met or MISSED against the goal, nothing without one, and keeps cells intact', () => {
    const table = markdownTable([
      row({ met: true }),
      row({ id: '2', met: false }),
      row({ id: '3', goal: '', met: undefined }),
    ]);
    const lines = table.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[2]).toContain('| met |');
    expect(lines[3]).toContain('| MISSED |');
    expect(lines[4]).not.toMatch(/met|MISSED/);
    expect(lines[2]).toContain('a \\| b'); // a pipe in a cell does not split the row
  });

  it('says by how much and why a goal is missed, and when none is', () => {
    const missed = row({ id: '2', met: false, shortfall: '0.008', why: 'JPEG of noise.' });
    expect(markdownTable([missed])).toContain('| MISSED by 0.008 |');
    expect(missedGoals([row({ met: true }), missed])).toEqual([
      'Goals missed in this run:',
      '',
      '- **2** (x, goal ≤ 1.03): MISSED by 0.008. JPEG of noise.',
    ]);
    expect(missedGoals([row({ met: true })])).toEqual(['Every goal is met in this run.']);
  });
});

describe('replaceDocSection', () => {
  const [start, end] = DOC_MARKERS.results;
  const doc = `# Benchmarks\n\nintro\n\n${start}\nold table\n${end}\n\n## Analysis\nhand-written\n`;

  it('replaces only what is between the markers, and running it twice changes nothing more', () => {
    const once = replaceDocSection(doc, DOC_MARKERS.results, 'new table');
    expect(once).toBe(`# Benchmarks\n\nintro\n\n${start}\nnew table\n${end}\n\n## Analysis\nhand-written\n`);
    expect(replaceDocSection(once, DOC_MARKERS.results, 'new table')).toBe(once);
  });

  it('leaves the other generated block alone and appends a missing one', () => {
    const withGpu = replaceDocSection(doc, DOC_MARKERS.gpu, 'gpu table');
    expect(withGpu.startsWith(doc)).toBe(true);
    expect(withGpu).toContain(`${DOC_MARKERS.gpu[0]}\ngpu table\n${DOC_MARKERS.gpu[1]}`);
    expect(replaceDocSection(withGpu, DOC_MARKERS.results, 't2')).toContain('gpu table');
  });
});
