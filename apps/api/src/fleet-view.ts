/**
 * The fleet and the backlog as the API reports them (GET /v1/workers, GET /v1/queue, /metrics):
 * live workers from their heartbeats, the backlog from its incremental counters (never a scan of
 * the queue), worker-seconds from the throughput the workers measured.
 */
import { MODEL_FAMILIES, type QueueBody, type WorkerBody } from '@kiln/contracts';
import { fleetThroughput, liveWorkers, readBacklog, readThroughput } from '@kiln/state';
import type { ApiDeps } from './deps.js';

type Deps = Pick<ApiDeps, 'redis' | 'config'>;

export async function readWorkers(deps: Deps): Promise<WorkerBody[]> {
  const workers = await liveWorkers(deps.redis, deps.config.queuePrefix);
  return workers.map(({ pid: _pid, ...worker }) => worker as WorkerBody);
}

export async function readQueue(deps: Deps): Promise<QueueBody> {
  const prefix = deps.config.queuePrefix;
  const [rows, measured, workers] = await Promise.all([
    readBacklog(deps.redis, prefix, MODEL_FAMILIES),
    readThroughput(deps.redis, prefix),
    liveWorkers(deps.redis, prefix),
  ]);
  // The (model, provider) pairs live workers run: a model they have rendered with, or preloaded.
  const live = workers.flatMap((w) =>
    w.families.flatMap((family) =>
      w.models_loaded.map((model) => ({ family, model, executionProvider: w.execution_provider })),
    ),
  );
  const rate = new Map(
    MODEL_FAMILIES.map((f) => [f as string, fleetThroughput(f, measured, live, deps.config.assumedThroughput)]),
  );
  return {
    lanes: rows.map(({ units, ...row }) => ({
      ...row,
      backlog_work_units: round(units),
      backlog_worker_seconds: round(units / (rate.get(row.family) ?? deps.config.assumedThroughput)),
    })),
    workers: { alive: workers.length, busy: workers.filter((w) => w.current_job !== null).length },
    throughput: measured.map((t) => ({
      family: t.family,
      model: t.model,
      execution_provider: t.executionProvider,
      units_per_second: t.unitsPerSecond,
      samples: t.samples,
    })),
  };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;
