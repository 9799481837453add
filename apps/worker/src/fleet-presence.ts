/**
 * The worker's entry in the fleet (@kiln/state worker-registry): who it is, what it serves and
 * what it is doing, refreshed every `KILN_WORKER_HEARTBEAT_MS`; the entry lapses after three
 * missed heartbeats, so a killed worker leaves the list by itself (GET /v1/workers, /readyz). After
 * each completed job it also publishes its throughput (work units per second) for the backlog's
 * worker-seconds (docs/operations.md, "Autoscaling").
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KilnConfig, Logger } from '@kiln/config';
import type { RenderJobData } from '@kiln/contracts';
import { ONNX_RUNTIME_VERSION } from '@kiln/diffusion';
import type { RedisClient } from '@kiln/queue';
import {
  heartbeatWorker,
  jobWorkShape,
  recordThroughput,
  withdrawWorker,
  workUnits,
  type WorkerAnnouncement,
} from '@kiln/state';

/** The busy ratio is the share of this window spent on jobs. */
const BUSY_WINDOW_MS = 60_000;
/** Missed heartbeats after which an entry lapses. */
const MISSED_HEARTBEATS = 3;
/** Model names kept in `models_loaded` (the session cache holds a few at most). */
const MAX_MODELS_SHOWN = 8;

export interface FleetPresence {
  readonly workerId: string;
  /** A model is loaded (preloaded, or used by a job). */
  modelLoaded(name: string): void;
  attemptStarted(jobId: string): void;
  /** An attempt ended; a completed one adds its throughput to the fleet's average. */
  attemptEnded(jobId: string, data: RenderJobData, completed: boolean, durationMs: number): void;
  close(): Promise<void>;
}

function kilnVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** The families this worker can render: those whose default model folder is installed. */
function servedFamilies(config: Readonly<KilnConfig>): string[] {
  const models = { sd15: config.sd15Model, sd3: config.sd3Model };
  return Object.entries(models)
    .filter(([, name]) => name && existsSync(path.join(config.modelsDir, name, 'model_index.json')))
    .map(([family]) => family);
}

/**
 * The model a job renders with, as metrics and throughput name it: the operator's models by name
 * (a bounded set: defaults and `library:` checkpoints), any tenant's uploaded checkpoint as
 * `tenant-checkpoint` (names chosen by tenants would grow label sets without bound).
 */
export function modelLabel(config: Readonly<KilnConfig>, data: RenderJobData): string {
  if (data.family === 'sd3') return config.sd3Model ?? 'sd3';
  const checkpoint = data.request.checkpoint;
  if (checkpoint === undefined) return config.sd15Model;
  return checkpoint.startsWith('library:') ? checkpoint : 'tenant-checkpoint';
}

export interface FleetPresenceOptions {
  config: Readonly<KilnConfig>;
  logger: Logger;
  /**
   * The provider the worker's sessions run on, read at each heartbeat and throughput record:
   * with `auto`, the one the inference thread chose (`auto` until its first session has loaded).
   * Default: `KILN_EXECUTION_PROVIDER` as configured.
   */
  executionProvider?: () => string;
}

export function startFleetPresence(
  redis: RedisClient,
  { config, logger, executionProvider = () => config.executionProvider }: FleetPresenceOptions,
): FleetPresence {
  const prefix = config.queuePrefix;
  const workerId = `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const startedAt = new Date().toISOString();
  const families = servedFamilies(config);
  const versions = { kiln: kilnVersion(), onnxruntime: ONNX_RUNTIME_VERSION, node: process.versions.node };
  const models: string[] = [];
  const running = new Map<string, number>();
  /** Ended busy intervals within the window: [start, end] in ms. */
  const busy: Array<[number, number]> = [];
  const ttlMs = MISSED_HEARTBEATS * config.workerHeartbeatMs;

  const busyRatio = (now: number) => {
    const from = now - BUSY_WINDOW_MS;
    while (busy.length && busy[0][1] < from) busy.shift();
    let ms = busy.reduce((sum, [start, end]) => sum + end - Math.max(start, from), 0);
    // concurrent jobs overlap: count the time any job ran, once
    const earliest = Math.min(...running.values());
    if (running.size) ms += now - Math.max(earliest, from, busy.at(-1)?.[1] ?? from);
    return Math.min(1, Math.max(0, ms / BUSY_WINDOW_MS));
  };

  const announcement = (): WorkerAnnouncement => {
    const now = Date.now();
    return {
      id: workerId,
      host: os.hostname(),
      pid: process.pid,
      families,
      models_loaded: [...models],
      execution_provider: executionProvider(),
      versions,
      current_job: running.keys().next().value ?? null,
      started_at: startedAt,
      last_heartbeat_at: new Date(now).toISOString(),
      busy_ratio: Number(busyRatio(now).toFixed(4)),
    };
  };

  let stopped = false;
  let inFlight: Promise<void> = Promise.resolve();
  const beat = () => {
    if (stopped) return;
    inFlight = heartbeatWorker(redis, prefix, announcement(), ttlMs).catch((err: Error) =>
      logger.warn({ err: err.message }, 'fleet heartbeat not written'),
    );
  };
  beat();
  const timer = setInterval(beat, config.workerHeartbeatMs);
  timer.unref();

  const modelLoaded = (name: string) => {
    const at = models.indexOf(name);
    if (at === 0) return;
    if (at > 0) models.splice(at, 1);
    models.unshift(name);
    models.length = Math.min(models.length, MAX_MODELS_SHOWN);
    beat();
  };

  return {
    workerId,
    modelLoaded,
    attemptStarted(jobId) {
      running.set(jobId, Date.now());
      beat(); // the list shows the new job at once, not a heartbeat later
    },
    attemptEnded(jobId, data, completed, durationMs) {
      const start = running.get(jobId);
      running.delete(jobId);
      if (start !== undefined) busy.push([start, Date.now()]);
      if (completed) {
        const model = modelLabel(config, data);
        const source = { family: data.family, model, executionProvider: executionProvider() };
        recordThroughput(redis, prefix, source, workUnits(jobWorkShape(data)), durationMs / 1000).catch((err: Error) =>
          logger.warn({ jobId, err: err.message }, 'throughput not recorded'),
        );
        modelLoaded(model);
      }
      beat();
    },
    async close() {
      stopped = true;
      clearInterval(timer);
      await inFlight;
      await withdrawWorker(redis, prefix, workerId).catch(() => undefined);
    },
  };
}
