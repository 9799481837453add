#!/usr/bin/env node
// `npm run bench` (after scripts/setup.mjs has built everything): the benchmark runner lives in
// bench/ and compiles to bench/dist/main.js; arguments after `--` pass through (see bench/src/main.ts).
import { spawn } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
// The runner leads a process group of its own, which the servers and probes it starts join: a
// signal to this script is passed to the whole group. (A SIGTERM to this script alone used to
// leave the runner and its probes going, loading the machine under whatever ran next.)
const runner = spawn(process.execPath, [path.join(root, 'bench/dist/main.js'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  detached: true,
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    try {
      process.kill(-runner.pid, signal);
    } catch {
      // The group has already exited.
    }
  });
}
runner.on('exit', (code) => process.exit(code ?? 1));
