/**
 * The fleet over real HTTP, Redis and workers (docs/operations.md):
 *
 * - the backlog in work units and worker-seconds rises when a batch is queued and falls to zero as
 *   a worker renders it, with its arithmetic checked against the formula (steps × megapixels ×
 *   images × 2 with guidance, ÷ the throughput the worker measured);
 * - `GET /v1/workers` lists two real `kiln worker` processes, then one after the other is SIGKILLed
 *   (its heartbeat lapses); `/readyz` follows; only operator keys see the fleet;
 * - the KEDA ScaledObject in deploy/ queries a metric that `/metrics` exports with those labels.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createLogger } from '@kiln/config';
import { queueSchema, workersSchema } from '@kiln/contracts';
import { startRenderWorker } from '@kiln/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { spawnWorker, type WorkerProcess } from './fault-workers.js';
import { pollUntil, startHarness, type Harness } from './harness.js';
import { client, keysFileWith, newKey } from './tenancy-helpers.js';

const HEARTBEAT_MS = 300;
const operator = newKey('ops', 'ops', { operator: true });
const tenant = newKey('t1', 'acme');
let h: Harness;

beforeAll(async () => {
  h = await startHarness(
    {
      KILN_KEYS_FILE: await keysFileWith([operator, tenant]),
      KILN_HOST: '127.0.0.1',
      KILN_ALLOW_ANY_RESOLUTION: '1',
      KILN_WORKER_HEARTBEAT_MS: String(HEARTBEAT_MS),
      KILN_INTRA_OP_THREADS: '1',
    },
    { worker: false },
  );
});
afterAll(() => h?.stop());

/** The formula of docs/operations.md, written out independently of the code under test. */
const units = (b: { steps: number; width: number; height: number; num_images: number; cfg_scale: number }) =>
  b.steps * ((b.width * b.height) / 1e6) * b.num_images * (b.cfg_scale > 1 ? 2 : 1);

const item = (i: number, body: Record<string, unknown>) => ({
  custom_id: `item-${i}`,
  url: '/generate/sd',
  body: { prompt: `fleet ${i}`, image_encoding: 'png', seed: i, ...body },
});

async function scrape(): Promise<Map<string, number>> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1], Number(match[2]));
  }
  return samples;
}

describe('the backlog', () => {
  const shapes = [
    { steps: 6, width: 64, height: 64, num_images: 2, cfg_scale: 7 },
    { steps: 4, width: 128, height: 64, num_images: 1, cfg_scale: 7 },
    { steps: 5, width: 64, height: 96, num_images: 3, cfg_scale: 1 }, // no guidance: not doubled
    { steps: 8, width: 64, height: 64, num_images: 1, cfg_scale: 4 },
  ];

  it('rises when a batch is queued, falls to zero as a worker renders it, in worker-seconds of its throughput', async () => {
    const ops = client(h.url, operator.token);
    const lane = async () => {
      const res = await ops.get('/v1/queue');
      expect(res.status, res.text).toBe(200);
      return res.json.lanes.find((l: { family: string; lane: string }) => l.family === 'sd15' && l.lane === 'batch');
    };
    expect(await lane()).toMatchObject({ prioritized: 0, active: 0, backlog_work_units: 0 });

    const submitted = await ops.post('/v1/batches', { requests: shapes.map((s, i) => item(i, s)) });
    expect(submitted.status, submitted.text).toBe(201);
    const expected = shapes.reduce((sum, s) => sum + units(s), 0);
    const queued = await lane();
    expect(queued.prioritized).toBe(shapes.length);
    expect(queued.backlog_work_units).toBeCloseTo(expected, 6);
    // Nothing measured yet on this fleet: KILN_ASSUMED_THROUGHPUT (1 unit per second).
    expect(queued.backlog_worker_seconds).toBeCloseTo(expected / 1, 6);
    const m = await scrape();
    expect(m.get('kiln_backlog_work_units{family="sd15",lane="batch"}')).toBeCloseTo(expected, 6);
    expect(m.get('kiln_backlog_worker_seconds{family="sd15",lane="batch"}')).toBeCloseTo(expected, 6);
    expect(m.get('kiln_queue_jobs{family="sd15",lane="batch",state="prioritized"}')).toBe(shapes.length);
    expect(m.get('kiln_jobs{queue="render",state="prioritized"}')).toBe(shapes.length);

    // A worker renders the batch: the figure only falls, to exactly zero.
    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    const seen: number[] = [];
    try {
      await pollUntil(
        async () => {
          const now = await lane();
          seen.push(now.backlog_work_units);
          return now.backlog_work_units === 0 && now.active === 0 ? true : undefined;
        },
        60_000,
        20,
      );
      // The worker it rendered on: idle now, busy for part of the last minute.
      const [entry] = (await ops.get('/v1/workers')).json.workers;
      expect(entry).toMatchObject({ current_job: null, execution_provider: 'cpu' });
      expect(entry.busy_ratio).toBeGreaterThan(0);
      expect(entry.busy_ratio).toBeLessThanOrEqual(1);
    } finally {
      await worker.close();
    }
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(seen.at(-1)).toBe(0);
    const left = new Set(seen);
    expect(left.size, `backlog values seen: ${seen.join(', ')}`).toBeGreaterThanOrEqual(2);

    // The worker published its throughput: 4 jobs measured for the default model on the CPU.
    const after = (await ops.get('/v1/queue')).json;
    expect(queueSchema.strict().safeParse(after).error).toBeUndefined(); // the contract's shape, nothing more
    const measured = after.throughput.find(
      (t: { family: string; model: string }) => t.family === 'sd15' && t.model === 'tiny-sd15',
    );
    expect(measured).toMatchObject({ execution_provider: 'cpu', samples: shapes.length });
    expect(measured.units_per_second).toBeGreaterThan(0);

    // With no live worker the measured average still prices new work (it is what scales from zero).
    const again = await ops.post('/v1/batches', { requests: shapes.slice(0, 2).map((s, i) => item(10 + i, s)) });
    expect(again.status, again.text).toBe(201);
    const more = units(shapes[0]) + units(shapes[1]);
    const priced = await lane();
    expect(priced.backlog_work_units).toBeCloseTo(more, 6);
    expect(priced.backlog_worker_seconds).toBeCloseTo(more / measured.units_per_second, 4);
    const m2 = await scrape();
    expect(m2.get('kiln_backlog_worker_seconds{family="sd15",lane="batch"}')).toBeCloseTo(
      priced.backlog_worker_seconds,
      4,
    );
    expect(
      m2.get('kiln_worker_throughput_work_units_per_second{family="sd15",model="tiny-sd15",execution_provider="cpu"}'),
    ).toBeCloseTo(measured.units_per_second, 4);
    // Duration histograms by model and resolution class: 64×64 is `small`.
    expect(m2.get('kiln_job_duration_seconds_count{family="sd15",model="tiny-sd15",resolution="small"}')).toBe(
      shapes.length,
    );
    expect(m2.get('kiln_images_generated_total{family="sd15"}')).toBe(7);

    // Canceling the batch takes its items out of the backlog.
    expect((await ops.post(`/v1/batches/${again.json.id}/cancel`)).status).toBe(200);
    await pollUntil(async () => ((await lane()).backlog_work_units === 0 ? true : undefined), 10_000, 50);
  });
});

describe('the fleet', () => {
  const workers: WorkerProcess[] = [];
  afterAll(async () => {
    for (const w of workers) if (w.alive()) await w.stop(5000);
  });

  it('lists two worker processes, then one after the other is SIGKILLed; /readyz follows', async () => {
    const ops = client(h.url, operator.token);
    const env = {
      KILN_QUEUE_PREFIX: h.config.queuePrefix,
      KILN_MODELS_DIR: h.config.modelsDir,
      KILN_DATA_DIR: h.dataDir,
      KILN_WORKER_HEARTBEAT_MS: String(HEARTBEAT_MS),
      KILN_INTRA_OP_THREADS: '1',
      ...(h.config.redisUrl && { REDIS_URL: h.config.redisUrl }),
    };
    workers.push(spawnWorker(env), spawnWorker(env));
    await Promise.all(workers.map((w) => w.waitReady()));

    const listed = await pollUntil(async () => {
      const res = await ops.get('/v1/workers');
      expect(res.status, res.text).toBe(200);
      return res.json.workers.length === 2 ? res.json.workers : undefined;
    }, 10_000);
    expect(workersSchema.safeParse({ workers: listed }).error).toBeUndefined();
    expect(Object.keys(listed[0]).sort()).toEqual(Object.keys(workersSchema.shape.workers.element.shape).sort());
    for (const w of listed) {
      expect(w).toMatchObject({
        families: expect.arrayContaining(['sd15']),
        execution_provider: 'cpu',
        current_job: null,
        versions: { node: process.versions.node, onnxruntime: '1.30.0' },
      });
      expect(w.models_loaded).toContain('tiny-sd15');
      expect(Date.now() - Date.parse(w.last_heartbeat_at)).toBeLessThan(3 * HEARTBEAT_MS + 1000);
      expect(w.busy_ratio).toBeGreaterThanOrEqual(0);
    }
    const ready = await ops.get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toMatchObject({ status: 'ready', workers: 2, checks: { worker: { ok: true } } });

    const killedAt = Date.now();
    await workers[0].kill();
    const remaining = await pollUntil(
      async () => {
        const list = (await ops.get('/v1/workers')).json.workers;
        return list.length === 1 ? list : undefined;
      },
      10_000,
      50,
    );
    // It left once its three missed heartbeats lapsed (plus the polls).
    expect(Date.now() - killedAt).toBeLessThan(3 * HEARTBEAT_MS + 4000); // slack for a loaded CI machine
    expect(listed.map((w: { id: string }) => w.id)).toContain(remaining[0].id);
    expect((await ops.get('/readyz')).json.workers).toBe(1);

    await workers[1].kill();
    const notReady = await pollUntil(
      async () => {
        const res = await ops.get('/readyz');
        return res.status === 503 ? res : undefined;
      },
      10_000,
      50,
    );
    expect(notReady.json).toMatchObject({ status: 'not_ready', workers: 0, checks: { worker: { ok: false } } });
  });

  it('shows the fleet to operator keys only', async () => {
    for (const route of ['/v1/workers', '/v1/queue']) {
      const res = await client(h.url, tenant.token).get(route);
      expect(res.status).toBe(403);
      expect(res.json.error.code).toBe('forbidden');
      expect((await client(h.url).get(route)).status).toBe(401);
    }
  });
});

describe('the KEDA example', () => {
  it('scales on a metric /metrics exports, with the labels its query filters on', async () => {
    const file = path.resolve(import.meta.dirname, '../deploy/kubernetes/worker-scaledobject.yaml');
    const scaled = parseYaml(await readFile(file, 'utf8'));
    const trigger = scaled.spec.triggers.find((t: { type: string }) => t.type === 'prometheus');
    const query: string = trigger.metadata.query;
    const [, metric, selector] = /(kiln_[a-z_]+)\{([^}]*)\}/.exec(query) ?? [];
    expect(metric).toBe('kiln_backlog_worker_seconds');
    const labels = [...selector.matchAll(/([a-z_]+)\s*=~?\s*"([^"]*)"/g)].map(([, name, value]) => ({ name, value }));
    expect(labels.length).toBeGreaterThan(0);

    const text = await (await fetch(`${h.url}/metrics`)).text();
    const series = text.split('\n').filter((line) => line.startsWith(`${metric}{`));
    expect(series.length).toBeGreaterThan(0);
    for (const { name, value } of labels) {
      // every series carries the label, and some series matches the query's value (regex or exact)
      expect(series.every((line) => line.includes(`${name}="`))).toBe(true);
      expect(series.some((line) => new RegExp(`${name}="(${value})"`).test(line))).toBe(true);
    }
    expect(text).toContain(`# TYPE ${metric} gauge`);
  });
});
