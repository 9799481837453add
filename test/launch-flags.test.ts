/**
 * The API's V8 flags (apps/api/src/node-flags.ts) are passed by every launcher Kiln ships (`npm
 * start`, the Dockerfile's entry point) and take effect. (The benchmarks import them.)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { API_NODE_FLAGS } from '@kiln/api';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

describe('the API process is launched with its V8 flags', () => {
  it('npm start passes them to node before the CLI', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start;
    const launch = /\bnode ((?:--\S+ )*)apps\/cli\/dist\/main\.js start\b/.exec(start);
    expect(launch, start).not.toBeNull();
    expect(launch![1].trim().split(' ')).toEqual([...API_NODE_FLAGS]);
  });

  it("the Dockerfile's entry point passes them to node before the CLI", () => {
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'));
    expect(entry).not.toBeNull();
    expect(JSON.parse(entry![1])).toEqual(['node', ...API_NODE_FLAGS, 'apps/cli/bin/kiln.js']);
  });

  it('node takes them: the young generation grows past the default', () => {
    // Short-lived garbage at a submission's pace until V8 has grown the new space as far as it may.
    const script = `
      let kept = [];
      for (let i = 0; i < 3e6; i++) { kept.push({ i, s: 'x' + i }); if (kept.length > 2e5) kept = []; }
      const space = require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      console.log(space.space_size / 2 ** 20);`;
    const newSpaceMiB = (flags: readonly string[]) =>
      Number(execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' }));
    expect(newSpaceMiB([])).toBeLessThanOrEqual(32);
    expect(newSpaceMiB(API_NODE_FLAGS)).toBeGreaterThan(32);
  });
});
