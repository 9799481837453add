/** GET /metrics over real HTTP, Redis and a worker: Prometheus text with the fleet's numbers. */
import { createLogger } from '@kiln/config';
import { startRenderWorker } from '@kiln/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';
import { sd15Job } from './job-fixtures.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest } from './tenancy-helpers.js';

let h: Harness;
const key = newKey('m1', 'acme');
beforeAll(async () => {
  h = await startHarness(
    { KILN_KEYS_FILE: await keysFileWith([key]), KILN_ALLOW_ANY_RESOLUTION: '1', KILN_HOST: '127.0.0.1' },
    { worker: false },
  );
});
afterAll(() => h?.stop());

/** Samples of a Prometheus text exposition, by series (`name{labels}`). */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${h.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    expect(match, line).not.toBeNull();
    samples.set(match![1]!, Number(match![2]));
  }
  return samples;
}

describe('GET /metrics', () => {
  it('reports queue states, workers, durations, images, busy time and the backlog, without an API key', async () => {
    const api = client(h.url, key.token);
    const worker = await startRenderWorker({ config: h.config, logger: createLogger('test', 'silent') });
    try {
      const done = await api.post('/generate/sd', smallRequest({ num_images: 2, steps: 6, seed: [1, 2] }));
      expect(done.status, done.text).toBe(200);
      const during = await scrape();
      expect(during.get('kiln_workers')).toBe(1);
    } finally {
      await worker.close();
    }
    // Work left with no worker: two prioritized (async) jobs, one delayed job, one canceled.
    for (const seed of [3, 4]) expect((await api.post('/generate/sd', smallRequest({ seed }), ASYNC)).status).toBe(201);
    const data = sd15Job(smallRequest(), { tenant: 'acme', keyId: key.id, seeds: [5] });
    await h.api.deps.queue.add('sd15', data, { jobId: 'later', delay: 600_000 });
    const canceled = await api.post('/generate/sd', smallRequest({ seed: 6 }), ASYNC);
    expect((await api.post(`/v1/jobs/${canceled.json.response_id}/cancel`)).status).toBe(200);

    const m = await scrape();
    expect(m.get('kiln_jobs{queue="render",state="completed"}')).toBe(1);
    expect(m.get('kiln_jobs{queue="render",state="prioritized"}')).toBe(2);
    expect(m.get('kiln_jobs{queue="render",state="delayed"}')).toBe(1);
    expect(m.get('kiln_jobs{queue="render",state="failed"}')).toBe(1);
    expect(m.get('kiln_jobs{queue="render",state="active"}')).toBe(0);
    expect(m.get('kiln_jobs{queue="webhooks",state="waiting"}')).toBe(0);
    // The same jobs by family and lane: async requests are prioritized, the delayed one kept apart.
    expect(m.get('kiln_queue_jobs{family="sd15",lane="async",state="prioritized"}')).toBe(2);
    expect(m.get('kiln_queue_jobs{family="sd15",lane="interactive",state="delayed"}')).toBe(1);
    expect(m.get('kiln_queue_jobs{family="sd15",lane="interactive",state="waiting"}')).toBe(0);
    expect(m.get('kiln_workers_busy')).toBe(0);
    expect(m.get('kiln_workers')).toBe(0);
    expect(m.get('kiln_images_generated_total{family="sd15"}')).toBe(2);
    expect(m.get('kiln_job_attempts_total{outcome="completed"}')).toBe(1);

    // Durations by family, model and resolution class (64×64: small).
    const series = 'family="sd15",model="tiny-sd15",resolution="small"';
    const jobCount = m.get(`kiln_job_duration_seconds_count{${series}}`)!;
    const jobSum = m.get(`kiln_job_duration_seconds_sum{${series}}`)!;
    expect(jobCount).toBe(1);
    expect(jobSum).toBeGreaterThan(0);
    expect(m.get(`kiln_job_duration_seconds_bucket{${series},le="+Inf"}`)).toBe(jobCount);
    expect(m.get('kiln_worker_busy_seconds_total')).toBeCloseTo(jobSum, 3);
    // 6 steps per micro-batch, the first of each left out.
    const steps = m.get(`kiln_step_duration_seconds_count{${series}}`)!;
    expect(steps).toBeGreaterThanOrEqual(5);
    expect(steps).toBeLessThanOrEqual(10);
    const buckets = [...m.entries()]
      .filter(([name]) => name.startsWith('kiln_step_duration_seconds_bucket'))
      .map(([, v]) => v);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(buckets.at(-1)).toBe(steps);
    // 3 queued jobs (64×64, 2 steps, 1 image, guided: 0.016384 work units each) over the measured throughput.
    const perJob = 2 * ((64 * 64) / 1e6) * 1 * 2;
    expect(m.get('kiln_backlog_work_units{family="sd15",lane="async"}')).toBeCloseTo(2 * perJob, 6);
    expect(m.get('kiln_backlog_work_units{family="sd15",lane="interactive"}')).toBeCloseTo(perJob, 6);
    const rate = m.get(
      'kiln_worker_throughput_work_units_per_second{family="sd15",model="tiny-sd15",execution_provider="cpu"}',
    )!;
    // its one job: 6 steps × 0.004096 MP × 2 images × 2 (guided), over that job's wall time
    expect(Math.abs((rate * jobSum) / (6 * ((64 * 64) / 1e6) * 2 * 2) - 1)).toBeLessThan(1e-3);
    expect(m.get('kiln_backlog_worker_seconds{family="sd15",lane="async"}')).toBeCloseTo((2 * perJob) / rate, 4);
    expect(m.get('kiln_api_process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });
});
