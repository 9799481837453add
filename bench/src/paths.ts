import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file compiles to bench/dist/paths.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Benchmark models: large, generated once, git-ignored. */
export const BENCH_MODELS_DIR = path.join(REPO_ROOT, '.bench-models');
export const CLI_ENTRY = path.join(REPO_ROOT, 'apps/cli/dist/main.js');
export const BENCH_DIST = fileURLToPath(new URL('./', import.meta.url));
export const BENCHMARKS_DOC = path.join(REPO_ROOT, 'docs/benchmarks.md');
