#!/usr/bin/env node
// `npm run bench` (after scripts/setup.mjs has built everything): the benchmark runner lives in
// bench/ and compiles to bench/dist/main.js; arguments after `--` pass through (see bench/src/main.ts).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const result = spawnSync(process.execPath, [path.join(root, 'bench/dist/main.js'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
