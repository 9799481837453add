/** HTTP helpers the benchmarks use against a running Kiln, and the in-process `kiln render` path. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FILE_EXTENSIONS, encodeImage, type Renderer } from '@kiln/diffusion';
import { createRenderQueueEvents, createRedis } from '@kiln/queue';

export interface JobSpec {
  prompt: string;
  steps: number;
  width: number;
  height: number;
  cfg_scale: number;
  sampler: string;
  image_encoding: 'jpeg' | 'png';
  num_images?: number;
}

/** A synchronous `POST /generate/sd`: resolves once the images are in the response, with the worker's render time. */
export async function generateSync(
  url: string,
  body: JobSpec & { seed: number },
): Promise<{ predictionTimeMs: number }> {
  const res = await fetch(`${url}/generate/sd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { images?: { image_b64: string | null }[]; prediction_time_ms?: number };
  if (res.status !== 200 || !json.images?.every((i) => i.image_b64)) {
    throw new Error(`POST /generate/sd answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  }
  return { predictionTimeMs: json.prediction_time_ms ?? Number.NaN };
}

/** An OctoAI-async `POST /generate/sd`; resolves with the job id. */
export async function generateAsync(url: string, body: JobSpec & { seed: number }): Promise<string> {
  const res = await fetch(`${url}/generate/sd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-octoai-async': '1' },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { response_id?: string };
  if (res.status !== 201 || !json.response_id)
    throw new Error(`async POST answered ${res.status}: ${JSON.stringify(json)}`);
  return json.response_id;
}

/**
 * Watches a server's queue events (a Redis stream, read by this process, so that watching costs
 * the server nothing) and resolves when every job in `ids` has completed.
 */
export async function watchCompletions(redisUrl: string | undefined, prefix: string) {
  const connection = createRedis(redisUrl);
  const events = createRenderQueueEvents(connection, prefix);
  await events.waitUntilReady();
  const done = new Map<string, number>();
  const failed = new Map<string, string>();
  const waiters = new Set<() => void>();
  events.on('completed', ({ jobId }) => {
    done.set(jobId, performance.now());
    for (const w of waiters) w();
  });
  events.on('failed', ({ jobId, failedReason }) => {
    failed.set(jobId, failedReason);
    for (const w of waiters) w();
  });
  return {
    /** Completion time (performance.now()) of each job, once all are done. */
    async all(ids: readonly string[], timeoutMs = 600_000): Promise<number[]> {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const bad = ids.find((id) => failed.has(id));
        if (bad) throw new Error(`job ${bad} failed: ${failed.get(bad)}`);
        if (ids.every((id) => done.has(id))) return ids.map((id) => done.get(id) as number);
        if (performance.now() > deadline) throw new Error('timed out waiting for jobs');
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
          setTimeout(wake, 1000);
        });
      }
    },
    async close() {
      await events.close();
      connection.disconnect();
    },
  };
}

/** What `kiln render` does for one job, with the model already loaded: render, encode, write files. Returns the render's share. */
export async function renderInProcess(
  renderer: Renderer,
  modelDir: string,
  spec: JobSpec,
  seeds: number[],
  outDir: string,
  microBatchSize = 4,
): Promise<{ renderMs: number }> {
  const started = performance.now();
  const result = await renderer.render({
    family: 'sd15',
    modelDir,
    params: {
      prompt: spec.prompt,
      negativePrompt: '',
      sampler: spec.sampler,
      steps: spec.steps,
      cfgScale: spec.cfg_scale,
      width: spec.width,
      height: spec.height,
      seeds,
      clipSkip: 1,
      microBatchSize,
    },
  });
  const renderMs = performance.now() - started;
  await Promise.all(
    result.images.map(async (image, index) => {
      const bytes = await encodeImage(image.pixels, image.width, image.height, spec.image_encoding);
      await writeFile(path.join(outDir, `${seeds[0]}-${index}.${FILE_EXTENSIONS[spec.image_encoding]}`), bytes);
    }),
  );
  return { renderMs };
}
