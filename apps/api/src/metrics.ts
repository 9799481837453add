/**
 * `GET /metrics`: Prometheus metrics of the whole Kiln (docs/api.md), via prom-client. Queue
 * states and the worker count are read from Redis at scrape time; job and step durations, images
 * and worker busy time are what every worker added to Redis when its attempts ended (see
 * @kiln/queue metrics-ledger), so any API process answers for the whole fleet. The API process's
 * own runtime metrics come with a `kiln_api_` prefix.
 */
import { readFleetMetrics, type HistogramSnapshot } from '@kiln/state';
import client, { Registry, type Metric } from 'prom-client';
import type { ApiDeps } from './deps.js';

/** BullMQ states reported by `kiln_jobs{state}`. */
const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed', 'waiting-children'] as const;
/** States that are work not started yet: the backlog. */
const QUEUED_STATES = ['waiting', 'prioritized', 'delayed'] as const;

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

function histogramValues(name: string, h: HistogramSnapshot): MetricValue[] {
  return [
    ...h.buckets.map((b) => ({ metricName: `${name}_bucket`, labels: { le: b.le }, value: b.count })),
    { metricName: `${name}_sum`, value: h.sum },
    { metricName: `${name}_count`, value: h.count },
  ];
}

export function createMetricsRegistry(deps: Pick<ApiDeps, 'redis' | 'queue' | 'config'>): Registry {
  const registry = new Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'kiln_api_' });

  // One Redis read per scrape, shared by the metrics below.
  let pending: Promise<Awaited<ReturnType<typeof readAll>>> | undefined;
  const readAll = async () => {
    const [counts, workers, fleet] = await Promise.all([
      deps.queue.getJobCounts(...STATES),
      deps.queue.getWorkersCount(),
      readFleetMetrics(deps.redis, deps.config.queuePrefix),
    ]);
    return { counts, workers, fleet };
  };
  const snapshot = () => {
    pending ??= readAll().finally(() => setTimeout(() => (pending = undefined), 0));
    return pending;
  };

  registry.registerMetric(
    computed('kiln_jobs', 'Render jobs by BullMQ state (failed includes canceled).', 'gauge', async () => {
      const { counts } = await snapshot();
      return STATES.map((state) => ({ labels: { state }, value: counts[state] ?? 0 }));
    }),
  );
  registry.registerMetric(
    computed('kiln_workers', 'Render workers connected to the queue.', 'gauge', async () => [
      { value: (await snapshot()).workers },
    ]),
  );
  registry.registerMetric(
    computed(
      'kiln_backlog_seconds',
      'Estimated worker-seconds to render every queued job: queued jobs × mean duration of the last 100 completed jobs.',
      'gauge',
      async () => {
        const { counts, fleet } = await snapshot();
        const queued = QUEUED_STATES.reduce((n, state) => n + (counts[state] ?? 0), 0);
        return [{ value: queued * (fleet.recentMeanJobSeconds ?? 0) }];
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
    computed('kiln_job_duration_seconds', 'Wall time of job attempts on a worker.', 'histogram', async () =>
      histogramValues('kiln_job_duration_seconds', (await snapshot()).fleet.jobSeconds),
    ),
  );
  registry.registerMetric(
    computed(
      'kiln_step_duration_seconds',
      'Time of one denoising step (one UNet pass over a micro-batch).',
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
  return registry;
}
