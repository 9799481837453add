/**
 * `kiln batch` as users run it (the built CLI in a child process) with the small, fast render
 * settings the tests use: 64×64, one step, polling every 200 ms.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const KILN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

export interface KilnBatchRun {
  csv: string;
  out: string;
  url: string;
  /** KILN_API_KEY for the run; none in local mode. */
  apiKey?: string;
  extra?: string[];
  timeoutMs?: number;
}

export function runKilnBatch({ csv, out, url, apiKey = '', extra = [], timeoutMs = 150_000 }: KilnBatchRun) {
  const settings = ['--steps', '1', '--width', '64', '--height', '64', '--poll', '200'];
  return run(process.execPath, [KILN, 'batch', csv, '--out', out, '--url', url, ...settings, ...extra], {
    env: { ...process.env, KILN_API_KEY: apiKey },
    timeout: timeoutMs,
  });
}
