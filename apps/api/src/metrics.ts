/**
 * `GET /metrics`: Prometheus metrics of the whole Kiln (docs/api.md, docs/operations.md), via
 * prom-client. Queue states, the backlog and the fleet are read from Redis at scrape time (the
 * backlog from its incremental counters, never by scanning the queue); job and step durations,
 * images, busy time and webhook attempts are what every worker added to Redis when its attempts
 * ended (@kiln/state metrics-ledger), so any API process answers for the whole fleet. The API
 * process's own runtime metrics come with a `kiln_api_` prefix.
 */
import { readFleetMetrics, type HistogramSeries } from '@kiln/state';
import client, { Registry, type Metric } from 'prom-client';
import type { ApiDeps } from './deps.js';
import { readQueue, readWorkers } from './fleet-view.js';

/** The backlog metric the KEDA ScaledObject in deploy/ scales workers on. */
export const BACKLOG_METRIC = 'kiln_backlog_worker_seconds';

/** BullMQ states reported by `kiln_jobs{state}`. */
const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children'] as const;

interface MetricValue {
  value: number;
  labels?: Record<string, string | number>;
  metricName?: string;
}

/** A metric whose values are computed at scrape time (prom-client's `registerMetric` contract). */
function computed(
  name: string,
  help: string,
  type: 'gauge' | 'counter' | 'histogram',
  values: () => Promise<MetricValue[]>,
): Metric {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: await values() }),
  } as unknown as Metric;
}

function histogramValues(name: string, series: readonly HistogramSeries[]): MetricValue[] {
  return series.flatMap(({ labels: { ...labels }, ...h }) => [
    ...h.buckets.map((b) => ({ metricName: `${name}_bucket`, labels: { ...labels, le: b.le }, value: b.count })),
    { metricName: `${name}_sum`, labels, value: h.sum },
    { metricName: `${name}_count`, labels, value: h.count },
  ]);
}

export function createMetricsRegistry(deps: Pick<ApiDeps, 'redis' | 'queue' | 'config' | 'jobs'>): Registry {
  const registry = new Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'kiln_api_' });

  // One Redis read per scrape, shared by the metrics below.
  let pending: Promise<Awaited<ReturnType<typeof readAll>>> | undefined;
  const readAll = async () => {
    const [counts, webhookCounts, workers, fleet, queue] = await Promise.all([
      deps.queue.getJobCounts(...STATES),
      deps.jobs.webhooks.getJobCounts(...STATES),
      readWorkers(deps),
      readFleetMetrics(deps.redis, deps.config.queuePrefix),
      readQueue(deps),
    ]);
    return { counts: { render: counts, webhooks: webhookCounts }, workers, fleet, queue };
  };
  const snapshot = () => {
    pending ??= readAll().finally(() => setTimeout(() => (pending = undefined), 0));
    return pending;
  };

  registry.registerMetric(
    computed(
      'kiln_jobs',
      'Jobs by BullMQ queue (render, webhooks) and state (failed includes canceled).',
      'gauge',
      async () => {
        const { counts } = await snapshot();
        return Object.entries(counts).flatMap(([queue, byState]) =>
          STATES.map((state) => ({ labels: { queue, state }, value: byState[state] ?? 0 })),
        );
      },
    ),
  );
  registry.registerMetric(
    computed(
      'kiln_queue_jobs',
      'Render jobs by model family, lane (interactive, async, batch) and state (waiting, prioritized, delayed, active).',
      'gauge',
      async () =>
        (await snapshot()).queue.lanes.flatMap(({ family, lane, ...n }) =>
          (['waiting', 'prioritized', 'delayed', 'active'] as const).map((state) => ({
            labels: { family, lane, state },
            value: n[state],
          })),
        ),
    ),
  );
  registry.registerMetric(
    computed(
      BACKLOG_METRIC,
      'Estimated worker-seconds to render the waiting, prioritized and delayed jobs: their work units divided by one ' +
        "worker's measured throughput. The autoscaling signal.",
      'gauge',
      async () =>
        (await snapshot()).queue.lanes.map(({ family, lane, backlog_worker_seconds }) => ({
          labels: { family, lane },
          value: backlog_worker_seconds,
        })),
    ),
  );
  registry.registerMetric(
    computed(
      'kiln_backlog_work_units',
      'Work of the waiting, prioritized and delayed jobs: denoising steps × megapixels × images (× 2 with guidance).',
      'gauge',
      async () =>
        (await snapshot()).queue.lanes.map(({ family, lane, backlog_work_units }) => ({
          labels: { family, lane },
          value: backlog_work_units,
        })),
    ),
  );
  registry.registerMetric(
    computed(
      'kiln_worker_throughput_work_units_per_second',
      'Moving average of one worker’s throughput, by model family, model and execution provider.',
      'gauge',
      async () =>
        (await snapshot()).queue.throughput.map((t) => ({
          labels: { family: t.family, model: t.model, execution_provider: t.execution_provider },
          value: t.units_per_second,
        })),
    ),
  );
  registry.registerMetric(
    computed('kiln_workers', 'Live render workers (heartbeat not lapsed).', 'gauge', async () => [
      { value: (await snapshot()).workers.length },
    ]),
  );
  registry.registerMetric(
    computed('kiln_workers_busy', 'Live render workers rendering a job now.', 'gauge', async () => [
      { value: (await snapshot()).workers.filter((w) => w.current_job !== null).length },
    ]),
  );
  registry.registerMetric(
    computed(
      'kiln_worker_busy_ratio',
      'Mean share of the last minute live workers spent on jobs (0 with no worker).',
      'gauge',
      async () => {
        const { workers } = await snapshot();
        const sum = workers.reduce((s, w) => s + w.busy_ratio, 0);
        return [{ value: workers.length ? sum / workers.length : 0 }];
      },
    ),
  );
  registry.registerMetric(
    computed(
      'kiln_job_attempts_total',
      'Job attempts that ended, by outcome (a retried job has several).',
      'counter',
      async () =>
        Object.entries((await snapshot()).fleet.attempts).map(([outcome, value]) => ({ labels: { outcome }, value })),
    ),
  );
  registry.registerMetric(
    computed(
      'kiln_job_duration_seconds',
      'Wall time of job attempts on a worker, by model family, model and resolution class.',
      'histogram',
      async () => histogramValues('kiln_job_duration_seconds', (await snapshot()).fleet.jobSeconds),
    ),
  );
  registry.registerMetric(
    computed(
      'kiln_step_duration_seconds',
      'Time of one denoising step (one UNet pass over a micro-batch), by model family, model and resolution class.',
      'histogram',
      async () => histogramValues('kiln_step_duration_seconds', (await snapshot()).fleet.stepSeconds),
    ),
  );
  registry.registerMetric(
    computed('kiln_images_generated_total', 'Images generated, by model family.', 'counter', async () =>
      Object.entries((await snapshot()).fleet.images).map(([family, value]) => ({ labels: { family }, value })),
    ),
  );
  registry.registerMetric(
    computed('kiln_worker_busy_seconds_total', 'Time workers spent on jobs.', 'counter', async () => [
      { value: (await snapshot()).fleet.busySeconds },
    ]),
  );
  registry.registerMetric(
    computed(
      'kiln_webhook_deliveries_total',
      'Webhook delivery attempts by outcome (delivered, retrying, failed).',
      'counter',
      async () =>
        Object.entries((await snapshot()).fleet.webhookAttempts).map(([outcome, value]) => ({
          labels: { outcome },
          value,
        })),
    ),
  );
  return registry;
}
