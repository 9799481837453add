/**
 * Item 3, batching: one job of 16 images vs 16 one-image jobs through the queue (images per
 * second), and the micro-batch size sweep (images per UNet call) in-process, for the mid-sized and
 * the tiny model. The sweep also says what merging one-image jobs from different requests into one
 * UNet batch could gain at most: the best micro-batch's speed over micro-batch 1.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Renderer } from '@kiln/diffusion';
import { MID_MODEL, TINY_MODEL, ensureBenchModel, type BenchModel } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import { startKilnServer } from './kiln-server.js';
import type { BenchSection } from './report.js';
import { generateAsync, renderInProcess, watchCompletions, type JobSpec } from './render-client.js';
import { fmt } from './stats.js';

export const BATCH_JOB: JobSpec = {
  prompt: 'a studio photograph of a ceramic vase',
  steps: 10,
  width: 256,
  height: 256,
  cfg_scale: 7.5,
  sampler: 'DDIM',
  image_encoding: 'jpeg',
};
const IMAGES = 16;
export const MICRO_BATCHES = [1, 2, 4, 8, 16];

interface Sweep {
  model: BenchModel;
  imagesPerSecond: Map<number, number>;
}

async function sweepMicroBatch(model: BenchModel, ctx: BenchContext, outDir: string): Promise<Sweep> {
  const modelDir = await ensureBenchModel(model, ctx.log);
  const renderer = new Renderer({ executionProvider: 'cpu' });
  const seeds = Array.from({ length: IMAGES }, (_, i) => 300 + i);
  const imagesPerSecond = new Map<number, number>();
  try {
    await renderer.warm(modelDir);
    await renderInProcess(renderer, modelDir, BATCH_JOB, seeds.slice(0, 2), outDir, 2);
    const rounds = ctx.quick ? 1 : 2;
    const totals = new Map<number, number>(MICRO_BATCHES.map((m) => [m, 0]));
    // Settings take turns round by round, so a slow moment of the machine hits them all alike.
    for (let round = 0; round < rounds; round++) {
      for (const microBatch of MICRO_BATCHES) {
        const started = performance.now();
        await renderInProcess(renderer, modelDir, BATCH_JOB, seeds, outDir, microBatch);
        totals.set(microBatch, (totals.get(microBatch) ?? 0) + performance.now() - started);
      }
    }
    for (const [microBatch, ms] of totals) imagesPerSecond.set(microBatch, (IMAGES * rounds * 1000) / ms);
  } finally {
    await renderer.dispose();
  }
  return { model, imagesPerSecond };
}

function best(sweep: Sweep): { microBatch: number; speedup: number } {
  const base = sweep.imagesPerSecond.get(1) as number;
  let top = { microBatch: 1, speedup: 1 };
  for (const [microBatch, ips] of sweep.imagesPerSecond)
    if (ips / base > top.speedup) top = { microBatch, speedup: ips / base };
  return top;
}

export async function batchingBench(ctx: BenchContext): Promise<BenchSection> {
  await ensureBenchModel(MID_MODEL, ctx.log);
  const outDir = await mkdtemp(path.join(os.tmpdir(), 'kiln-bench-batch-'));
  const server = await startKilnServer({ model: MID_MODEL.name, env: { KILN_MICRO_BATCH: '4' } });
  const watcher = await watchCompletions(server.redisUrl, server.prefix);
  let oneJobMs = 0;
  let manyJobsMs = 0;
  const rounds = ctx.quick ? 1 : 2;
  let sweeps: Sweep[];
  try {
    await watcher.all([await generateAsync(server.url, { ...BATCH_JOB, seed: 1 })]);
    for (let round = 0; round < rounds; round++) {
      let started = performance.now();
      const id = await generateAsync(server.url, { ...BATCH_JOB, num_images: IMAGES, seed: 10 });
      oneJobMs += Math.max(...(await watcher.all([id]))) - started;
      started = performance.now();
      const ids = await Promise.all(
        Array.from({ length: IMAGES }, (_, i) => generateAsync(server.url, { ...BATCH_JOB, seed: 10 + i })),
      );
      manyJobsMs += Math.max(...(await watcher.all(ids))) - started;
    }
  } finally {
    await watcher.close();
    await server.stop();
  }
  try {
    sweeps = [await sweepMicroBatch(MID_MODEL, ctx, outDir), await sweepMicroBatch(TINY_MODEL, ctx, outDir)];
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
  const ratio = manyJobsMs / oneJobMs;
  const job = `${BATCH_JOB.width}×${BATCH_JOB.height}, ${BATCH_JOB.steps} steps, cfg ${BATCH_JOB.cfg_scale}, JPEG`;
  const [mid, tiny] = sweeps;
  const midBest = best(mid);
  const tinyBest = best(tiny);
  return {
    title: 'Item 3: batching',
    rows: [
      {
        id: '3a',
        what: 'batching: images/s of one 16-image job ÷ 16 one-image jobs',
        value: fmt(ratio, 2),
        goal: '',
        basis: `the same 16 seeds as 16 async jobs submitted at once, through the queue (${MID_MODEL.description}, ${job}, KILN_MICRO_BATCH=4)`,
        command: reproduce('batching'),
      },
      {
        id: '3b',
        what: `micro-batch sweep, mid model: best (${midBest.microBatch}) ÷ micro-batch 1`,
        value: fmt(midBest.speedup, 2),
        goal: '',
        basis: `16 images in-process at micro-batch ${MICRO_BATCHES.join(', ')} (${job}); images/s in the notes`,
        command: reproduce('batching'),
      },
      {
        id: '3c',
        what: `micro-batch sweep, tiny model: best (${tinyBest.microBatch}) ÷ micro-batch 1`,
        value: fmt(tinyBest.speedup, 2),
        goal: '',
        basis: `the same with ${TINY_MODEL.description}`,
        command: reproduce('batching'),
      },
    ],
    lines: [
      `Through the queue (${MID_MODEL.description}, ${job}): one 16-image job ${fmt((IMAGES * rounds * 1000) / oneJobMs, 2)} images/s, 16 one-image jobs ${fmt((IMAGES * rounds * 1000) / manyJobsMs, 2)} images/s.`,
      '',
      `| micro-batch (images per UNet call) | ${MICRO_BATCHES.join(' | ')} |`,
      `|---|${MICRO_BATCHES.map(() => '---').join('|')}|`,
      ...sweeps.map(
        (s) =>
          `| ${s.model.description}: images/s | ${MICRO_BATCHES.map((m) => fmt(s.imagesPerSecond.get(m) as number, 2)).join(' | ')} |`,
      ),
    ],
  };
}
