/**
 * `npx kiln batch` (the built CLI, as users run it) against a running Kiln (the harness: real
 * HTTP, Redis and workers): a 200-line CSV becomes a dataset folder with 200 images and a full
 * manifest; run again it does nothing; with part of the dataset lost it fetches only that part,
 * without rendering anything again.
 */
import { readdir, readFile, rm, stat, writeFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '@kiln/config';
import { startRenderWorker, type RenderWorker } from '@kiln/worker';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';
import { runKilnBatch } from './kiln-batch-cli.js';

let h: Harness;
let second: RenderWorker;
let dir: string;
let csv: string;
let out: string;

const kilnBatch = (...extra: string[]) => runKilnBatch({ csv, out, url: h.url, extra });

async function renderJobCount(): Promise<number> {
  const counts = await h.api.deps.queue.getJobCounts();
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

const manifest = async () =>
  (await readFile(path.join(out, 'manifest.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

beforeAll(async () => {
  h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1', KILN_INTRA_OP_THREADS: '1' });
  second = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
  dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-cli-batch-'));
  csv = path.join(dir, 'prompts.csv');
  out = path.join(dir, 'dataset');
  const rows = Array.from({ length: 200 }, (_, i) =>
    i % 3 === 0 ? `"a red, shiny apple number ${i}",${i}` : `a small house ${i},${i}`,
  );
  await writeFile(csv, ['prompt,seed', ...rows].join('\n') + '\n');
});
afterAll(async () => {
  await second?.close();
  await h?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('kiln batch', () => {
  it('turns a 200-line CSV into a dataset folder with 200 images and a complete manifest', async () => {
    const { stdout, stderr } = await kilnBatch();
    expect(stdout).toMatch(/200 of 200 items to render/);
    expect(stdout).toMatch(/done: 200 items downloaded/);
    expect(stderr).toMatch(/kiln batch \|.*\| 100% \| 200\/200 items \| [\d.]+ items\/s \| ETA/); // the progress bar
    const files = (await readdir(path.join(out, 'images'))).sort();
    expect(files).toHaveLength(200);
    expect(files.every((f) => /^row\d+-s\d+\.png$/.test(f))).toBe(true);
    const entries = await manifest();
    expect(entries).toHaveLength(200);
    expect(new Set(entries.map((e) => e.custom_id)).size).toBe(200);
    const row1 = entries.find((e) => e.custom_id === 'row1-s0');
    expect(row1).toMatchObject({
      prompt: 'a red, shiny apple number 0',
      seed: 0,
      sampler: 'DDIM',
      steps: 1,
      width: 64,
      height: 64,
      model: 'tiny-sd15',
      file: 'images/row1-s0.png',
      index: 0,
    });
    for (const e of entries) {
      expect(e.seed).toBe(Number(e.custom_id.replace(/^row\d+-s/, '')));
      expect(Object.keys(e)).toEqual(
        expect.arrayContaining(['custom_id', 'prompt', 'seed', 'sampler', 'steps', 'model', 'file']),
      );
    }
    for (const e of entries.slice(0, 5)) {
      const meta = await sharp(path.join(out, e.file)).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 64, 64]);
    }
  }, 160_000);

  it('does nothing new when run again: no job, no batch, no download', async () => {
    const jobsBefore = await renderJobCount();
    const batchesBefore = (await h.api.deps.jobs.batches.list('local', 100)).length;
    const mtimes = await Promise.all((await manifest()).map(async (e) => (await stat(path.join(out, e.file))).mtimeMs));
    const { stdout } = await kilnBatch();
    expect(stdout).toMatch(/nothing to do: all 200 items are in/);
    expect(await renderJobCount()).toBe(jobsBefore);
    expect((await h.api.deps.jobs.batches.list('local', 100)).length).toBe(batchesBefore);
    const after = await Promise.all((await manifest()).map(async (e) => (await stat(path.join(out, e.file))).mtimeMs));
    expect(after).toEqual(mtimes);
    expect(await manifest()).toHaveLength(200);
  });

  it('resumes after a partial loss: fetches only what is missing, and Kiln renders nothing again', async () => {
    const entries = await manifest();
    const kept = entries.slice(0, 150);
    for (const e of entries.slice(150)) await rm(path.join(out, e.file));
    await writeFile(path.join(out, 'manifest.jsonl'), kept.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const jobsBefore = await renderJobCount();
    const { stdout } = await kilnBatch();
    expect(stdout).toMatch(/50 of 200 items to render \(150 already in the dataset\)/);
    expect(stdout).toMatch(/50 items already rendered by Kiln/);
    expect(await renderJobCount()).toBe(jobsBefore);
    expect(await readdir(path.join(out, 'images'))).toHaveLength(200);
    expect(new Set((await manifest()).map((e) => e.custom_id)).size).toBe(200);
  }, 60_000);

  it('fails clearly without a running Kiln', async () => {
    const err = await runKilnBatch({
      csv,
      out: path.join(dir, 'other'),
      url: 'http://127.0.0.1:9',
      extra: ['--no-progress'],
    }).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/cannot reach Kiln at http:\/\/127\.0\.0\.1:9/);
  });
});
