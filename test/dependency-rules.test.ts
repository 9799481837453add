/**
 * The architecture's one-way dependencies, checked on every import of every source file:
 * apps → packages (never the reverse); the diffusion core knows no HTTP, Redis, queue, storage or
 * environment; the API never loads ONNX or an image codec; the worker never loads Express;
 * onnxruntime-node and sharp each have one owner inside the core.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.tsx?$/.test(name) && !/\.test\.ts$|test-helpers\.ts$/.test(name) ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
}

const src = (workspace: string) => sourceFiles(path.join(ROOT, workspace, 'src'));

function violations(files: string[], forbidden: RegExp): string[] {
  return files.flatMap((file) =>
    importsOf(file)
      .filter((spec) => forbidden.test(spec))
      .map((spec) => `${path.relative(ROOT, file)} imports ${spec}`),
  );
}

describe('dependency rules', () => {
  const packages = readdirSync(path.join(ROOT, 'packages'));

  it('packages never import apps', () => {
    const files = packages.flatMap((p) => src(`packages/${p}`));
    expect(violations(files, /^@kiln\/(api|worker|cli|ui)$/)).toEqual([]);
  });

  it('the diffusion core knows nothing of HTTP, Redis, queues, storage or configuration', () => {
    expect(
      violations(
        src('packages/diffusion'),
        /^(express|bullmq|ioredis|pino|@kiln\/(queue|state|jobs|storage|config|contracts|webhooks))/,
      ),
    ).toEqual([]);
    const envReads = src('packages/diffusion').filter((f) => readFileSync(f, 'utf8').includes('process.env'));
    expect(envReads).toEqual([]);
  });

  it('the API never loads ONNX, an image codec or the diffusion core (only its upload checks)', () => {
    expect(
      violations(src('apps/api'), /^(onnxruntime-node|sharp|@kiln\/(diffusion(?!\/asset-check$)|testkit))/),
    ).toEqual([]);
  });

  it("the core's upload checks (@kiln/diffusion/asset-check) load neither onnxruntime-node nor sharp", () => {
    const seen = new Set<string>();
    const visit = (file: string): string[] => {
      if (seen.has(file)) return [];
      seen.add(file);
      return importsOf(file).flatMap((spec) => {
        if (/^(onnxruntime-node|sharp)$/.test(spec)) return [`${path.relative(ROOT, file)} imports ${spec}`];
        return spec.startsWith('.') ? visit(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'))) : [];
      });
    };
    expect(visit(path.join(ROOT, 'packages/diffusion/src/asset-check.ts'))).toEqual([]);
    expect(seen.size).toBeGreaterThan(5);
  });

  it('the queue and the shared state know nothing of webhooks or the job lifecycle built on them', () => {
    expect(violations([...src('packages/queue'), ...src('packages/state')], /^@kiln\/(webhooks|jobs)$/)).toEqual([]);
    expect(violations(src('packages/webhooks'), /^@kiln\/jobs$/)).toEqual([]);
  });

  it('the dashboard (apps/ui) is browser code: Preact (as its import map names it) and its own modules only', () => {
    const files = src('apps/ui');
    expect(files.length).toBeGreaterThan(5);
    expect(violations(files, /^(?!\.\.?\/|preact$|preact\/hooks$)/)).toEqual([]);
    const importMap = readFileSync(path.join(ROOT, 'apps/ui/public/index.html'), 'utf8');
    for (const name of ['preact', 'preact/hooks', 'preact/jsx-runtime']) expect(importMap).toContain(`"${name}":`);
  });

  it('the worker never loads Express', () => {
    expect(violations(src('apps/worker'), /^express/)).toEqual([]);
  });

  it('onnxruntime-node and sharp each have one home in the core', () => {
    const all = [
      ...packages.flatMap((p) => src(`packages/${p}`)),
      ...['api', 'worker', 'cli'].flatMap((a) => src(`apps/${a}`)),
    ];
    const users = (name: string) => [
      ...new Set(all.filter((f) => importsOf(f).includes(name)).map((f) => path.relative(ROOT, path.dirname(f)))),
    ];
    // The models folder and its graph optimiser (models/optimize) own the sessions.
    const ortHome = 'packages/diffusion/src/models';
    expect(users('onnxruntime-node')).toContain(ortHome);
    expect(users('onnxruntime-node').filter((dir) => dir !== ortHome && !dir.startsWith(`${ortHome}/`))).toEqual([]);
    expect(users('sharp').every((dir) => dir === 'packages/diffusion/src/image')).toBe(true);
  });

  it('only packages/config reads the environment', () => {
    const all = [
      ...packages.filter((p) => p !== 'config').flatMap((p) => src(`packages/${p}`)),
      ...['api', 'worker', 'cli'].flatMap((a) => src(`apps/${a}`)),
    ];
    expect(
      all.filter((f) => /process\.env\b/.test(readFileSync(f, 'utf8'))).map((f) => path.relative(ROOT, f)),
    ).toEqual([]);
  });
});
