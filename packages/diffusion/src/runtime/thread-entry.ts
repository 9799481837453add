/**
 * The compiled module a worker thread runs, given by its path under `src/` (`dist/` once built):
 * beside this file's own directory when it runs compiled, and in `dist/` when tests run the
 * TypeScript sources (a worker thread cannot run them).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function threadEntry(pathUnderSrc: string): URL {
  const compiled = new URL(`../${pathUnderSrc}`, import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return compiled;
  return new URL(`../../dist/${pathUnderSrc}`, import.meta.url);
}
