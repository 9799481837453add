/**
 * `kiln batch <file.jsonl|file.csv> --out <dir>`: submits the items to a running Kiln as one
 * batch, shows a progress bar (rate, ETA), downloads each image as soon as its item finishes into
 * `<dir>/images/`, and records it in `<dir>/manifest.jsonl`. Run again, it submits only what the
 * manifest lacks, and Kiln itself skips items it already rendered (same custom_id and body), so an
 * interrupted run resumes without rendering or downloading anything twice; a finished one does
 * nothing at all. docs/batches.md describes the file formats.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadClientEnv } from '@kiln/config';
import cliProgress from 'cli-progress';
import { itemsFromCsv, itemsFromJsonl, type BatchInput, type BatchInputItem } from '../batch/batch-input.js';
import { KilnClient, type ResultLine } from '../batch/batch-client.js';
import { downloadImage } from '../batch/image-download.js';
import { appendManifest, imageFileName, loadManifest, type ManifestEntry } from '../batch/batch-manifest.js';

export interface BatchFlags {
  out: string;
  url?: string;
  apiKey?: string;
  seeds?: string;
  steps?: string;
  width?: string;
  height?: string;
  sampler?: string;
  cfgScale?: string;
  negativePrompt?: string;
  checkpoint?: string;
  imageEncoding?: string;
  poll: string;
  concurrency: string;
  progress: boolean;
}

/** CSV defaults from the flags: only the ones given (the API's defaults fill the rest; PNG unless told). */
function csvDefaults(flags: BatchFlags): Record<string, unknown> {
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const defaults: Record<string, unknown> = {
    steps: num(flags.steps),
    width: num(flags.width),
    height: num(flags.height),
    sampler: flags.sampler,
    cfg_scale: num(flags.cfgScale),
    negative_prompt: flags.negativePrompt,
    checkpoint: flags.checkpoint,
    image_encoding: flags.imageEncoding ?? 'png',
  };
  return Object.fromEntries(Object.entries(defaults).filter(([, v]) => v !== undefined));
}

async function readInput(file: string, flags: BatchFlags): Promise<BatchInput> {
  const text = await readFile(file, 'utf8');
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return itemsFromCsv(text, { seeds: flags.seeds, defaults: csvDefaults(flags) });
  if (ext === '.jsonl' || ext === '.ndjson') return itemsFromJsonl(text);
  throw new Error(`${file}: give a .jsonl or a .csv file`);
}

const imagesOf = (item: BatchInputItem) => item.request.num_images;
const extensionOf = (contentType: string) => (contentType === 'image/jpeg' ? 'jpg' : 'png');

function manifestEntries(item: BatchInputItem, line: ResultLine, files: string[]): ManifestEntry[] {
  const r = item.request;
  return line.images.map((img, k) => ({
    custom_id: item.custom_id,
    index: img.index,
    prompt: r.prompt,
    negative_prompt: r.negative_prompt ?? null,
    seed: img.seed,
    sampler: r.sampler,
    steps: r.steps,
    cfg_scale: r.cfg_scale,
    width: r.width,
    height: r.height,
    model: line.model,
    file: files[k],
    job_id: line.job_id as string,
  }));
}

/** Runs `work` on every element with at most `limit` at once. */
async function eachLimited<T>(values: readonly T[], limit: number, work: (v: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, values.length) }, async () => {
      while (next < values.length) await work(values[next++]);
    }),
  );
}

export async function batchCommand(file: string, flags: BatchFlags): Promise<void> {
  const input = await readInput(file, flags);
  for (const p of input.problems)
    console.error(`${file}:${p.line}${p.custom_id ? ` (${p.custom_id})` : ''}: ${p.message}`);
  const out = path.resolve(flags.out);
  await mkdir(path.join(out, 'images'), { recursive: true });

  const done = await loadManifest(out);
  const pending = input.items.filter((item) => (done.get(item.custom_id)?.length ?? 0) < imagesOf(item));
  const already = input.items.length - pending.length;
  if (pending.length === 0) {
    console.log(`nothing to do: all ${input.items.length} items are in ${path.join(out, 'manifest.jsonl')}`);
    if (input.problems.length > 0) process.exitCode = 1;
    return;
  }
  console.log(
    `${pending.length} of ${input.items.length} items to render${already ? ` (${already} already in the dataset)` : ''}`,
  );

  const env = loadClientEnv();
  const client = new KilnClient(
    (flags.url ?? env.url ?? 'http://127.0.0.1:8080').replace(/\/$/, ''),
    flags.apiKey ?? env.apiKey,
  );
  const jsonl = pending
    .map((item) => JSON.stringify({ custom_id: item.custom_id, url: item.url, body: item.body }))
    .join('\n');
  const submitted = await client.submit(jsonl);
  const byId = new Map(pending.map((item) => [item.custom_id, item]));
  const failures: string[] = [];
  for (const e of submitted.errors ?? [])
    failures.push(`${e.custom_id ?? `line ${e.line}`}: refused: ${e.error.message}`);
  const toFinish = pending.length - (submitted.errors?.length ?? 0);
  console.log(
    `batch ${submitted.id}${submitted.counts.reused ? ` (${submitted.counts.reused} items already rendered by Kiln)` : ''}`,
  );

  const bar = new cliProgress.SingleBar(
    {
      format:
        'kiln batch |{bar}| {percentage}% | {value}/{total} items | {rate} items/s | ETA {eta_formatted} | {failed} failed',
      noTTYOutput: true,
      notTTYSchedule: 1000,
      etaBuffer: 50,
      hideCursor: null,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let finished = 0;
  let failed = 0;
  if (flags.progress) bar.start(toFinish, 0, { rate: '0.0', failed: 0 });
  const tick = () => {
    const seconds = (Date.now() - started) / 1000;
    if (flags.progress) bar.update(finished, { rate: seconds > 0 ? (finished / seconds).toFixed(1) : '0.0', failed });
  };

  const pollMs = Math.max(100, Number(flags.poll));
  const concurrency = Math.max(1, Number(flags.concurrency));
  let offset = 0;
  try {
    while (finished < toFinish) {
      const lines = await client.finishedSince(submitted.id, offset);
      offset += lines.length;
      await eachLimited(lines, concurrency, async (line) => {
        const item = line.custom_id ? byId.get(line.custom_id) : undefined;
        if (!item) return;
        if (line.status !== 'completed') {
          failures.push(`${item.custom_id}: ${line.status}${line.error ? `: ${line.error.message}` : ''}`);
          failed++;
        } else {
          const files: string[] = [];
          for (const img of line.images) {
            if (!img.url) {
              files.push('');
              continue;
            }
            const name = path.posix.join(
              'images',
              imageFileName(item.custom_id, img.index, imagesOf(item), extensionOf(img.content_type)),
            );
            await downloadImage(img, out, name, client.imageAccess);
            files.push(name);
          }
          await appendManifest(
            out,
            manifestEntries(item, line, files).filter((e) => e.file !== ''),
          );
        }
        finished++;
        tick();
      });
      if (finished < toFinish) {
        if (lines.length === 0) {
          const status = (await client.batch(submitted.id)).status;
          if (status === 'canceled') throw new Error(`batch ${submitted.id} was canceled`);
        }
        await new Promise((resolve) => setTimeout(resolve, lines.length === 0 ? pollMs : 0));
      }
    }
  } finally {
    tick();
    if (flags.progress) bar.stop();
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `done: ${finished - failed} items downloaded to ${out} in ${seconds} s${failures.length ? `, ${failures.length} failed` : ''}`,
  );
  for (const f of failures) console.error(`  ${f}`);
  if (failures.length > 0 || input.problems.length > 0) process.exitCode = 1;
}
