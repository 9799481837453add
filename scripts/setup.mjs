#!/usr/bin/env node
// The setup step behind `npm start` and `npm test`: build the TypeScript projects and write the
// default tiny models to ./models/tiny-sd15 and ./models/tiny-sd3 when no model is there. With --redis, also make sure
// a Redis answers on 127.0.0.1:6379 (starting a daemonized redis-server for the test suite) and, as root, that
// Debian's chromium is installed for the dashboard's browser tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

if (!existsSync(path.join(root, 'node_modules'))) {
  console.log('[setup] installing dependencies (npm install)');
  run('npm', ['install', '--no-audit', '--no-fund']);
}
console.log('[setup] building (tsc -b)');
run(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-b']);

const modelsDir = path.resolve(root, process.env.KILN_MODELS_DIR ?? 'models');
const defaultModel = path.join(modelsDir, process.env.KILN_SD15_MODEL ?? 'tiny-sd15');
const defaultSd3Model = path.join(modelsDir, process.env.KILN_SD3_MODEL ?? 'tiny-sd3');
for (const [dir, family, label] of [
  [defaultModel, 'sd15', 'SD1.5'],
  [defaultSd3Model, 'sd3', 'SD3'],
]) {
  if (existsSync(path.join(dir, 'model_index.json'))) continue;
  console.log(`[setup] writing the tiny random-weight ${label} model to ${dir}`);
  console.log('[setup] NOTE: its images are noise until you install real weights (README, "Installing real weights").');
  run(process.execPath, [path.join(root, 'apps/cli/dist/main.js'), 'models', 'make-tiny', dir, '--family', family]);
}

function redisAnswers() {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: 6379 });
    socket.setTimeout(1000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

// The dashboard's browser tests (test/ui.e2e.test.ts) drive Debian's Chromium: install it for the
// test run when it is missing and we may (root, apt); otherwise that test says what to install.
const CHROMIUM = '/usr/bin/chromium';
if (process.argv.includes('--redis') && !existsSync(CHROMIUM) && process.getuid?.() === 0) {
  if (spawnSync('sh', ['-c', 'command -v apt-get']).status === 0) {
    console.log('[setup] installing Debian chromium for the dashboard tests (apt-get install chromium)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () => spawnSync('apt-get', ['install', '-y', '-qq', 'chromium'], { stdio: 'inherit', env }).status;
    if (install() !== 0) {
      spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
      install();
    }
  }
}

if (process.argv.includes('--redis') && !process.env.REDIS_URL && !(await redisAnswers())) {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) {
    console.error('[setup] no Redis on 127.0.0.1:6379 and redis-server is not installed: apt-get install redis-server');
    process.exit(1);
  }
  console.log('[setup] starting redis-server on 127.0.0.1:6379 for the tests');
  run('redis-server', [
    '--daemonize',
    'yes',
    '--bind',
    '127.0.0.1',
    '--port',
    '6379',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  for (let i = 0; i < 50 && !(await redisAnswers()); i++) await new Promise((r) => setTimeout(r, 100));
}
