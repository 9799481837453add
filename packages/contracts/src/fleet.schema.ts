/**
 * The fleet as operators see it (operator keys only; docs/operations.md): the live workers
 * (`GET /v1/workers`) and the render queue by model family and lane with its backlog in
 * estimated worker-seconds (`GET /v1/queue`, the figure autoscaling uses).
 */
import { z } from 'zod';

const count = z.int().min(0);

/** One live worker, as it announced itself at its last heartbeat. */
export const workerSchema = z
  .object({
    id: z.string().describe('The worker process: host, process id and a random suffix.'),
    host: z.string().describe('Host name of the machine (the pod name on Kubernetes).'),
    families: z.array(z.string()).describe('Model families whose default model is installed on the worker.'),
    models_loaded: z
      .array(z.string())
      .describe(
        'Models the worker has preloaded or rendered with, most recent first (its session cache may have released the oldest).',
      ),
    execution_provider: z
      .enum(['cpu', 'cuda', 'webgpu', 'auto'])
      .describe(
        'The provider the worker renders on: KILN_EXECUTION_PROVIDER, with auto resolved to the provider it chose once its first session has loaded (auto before that).',
      ),
    versions: z
      .object({ kiln: z.string(), onnxruntime: z.string(), node: z.string() })
      .describe('Versions of Kiln, onnxruntime-node and Node.js the worker runs.'),
    current_job: z.string().nullable().describe('The job it is rendering, or null when idle.'),
    started_at: z.iso.datetime().describe('When the worker process started.'),
    last_heartbeat_at: z.iso
      .datetime()
      .describe('Its last heartbeat; a worker that misses three (KILN_WORKER_HEARTBEAT_MS) leaves the list.'),
    busy_ratio: z.number().min(0).max(1).describe('Share of the last minute the worker spent on jobs.'),
  })
  .meta({ title: 'Worker', description: 'A live render worker.' });

/** The body of `GET /v1/workers`. */
export const workersSchema = z
  .object({ workers: z.array(workerSchema).describe('Live workers, by id.') })
  .meta({ title: 'Workers', description: 'The render workers whose heartbeat has not lapsed.' });

export const QUEUE_LANES = ['interactive', 'async', 'batch'] as const;

/** One model family and lane of the render queue. */
export const queueLaneSchema = z
  .object({
    family: z.string().describe('Model family (`sd15`, `sd3`).'),
    lane: z
      .enum(QUEUE_LANES)
      .describe(
        '`interactive`: synchronous requests; `async`: X-OctoAI-Async requests; `batch`: batch items and batch-lane keys.',
      ),
    waiting: count.describe('Jobs waiting without a priority (interactive).'),
    prioritized: count.describe(
      'Jobs waiting with a priority (async, batch): BullMQ keeps them apart from the wait list.',
    ),
    delayed: count.describe('Retries waiting out their backoff.'),
    active: count.describe('Jobs being rendered.'),
    backlog_work_units: z
      .number()
      .min(0)
      .describe('Work of the waiting, prioritized and delayed jobs: steps × megapixels × images (× 2 with guidance).'),
    backlog_worker_seconds: z
      .number()
      .min(0)
      .describe(
        "That work divided by one worker's measured throughput (work units per second): the autoscaling signal.",
      ),
  })
  .meta({ title: 'QueueLane', description: 'The render queue of one model family and lane.' });

/** The body of `GET /v1/queue`. */
export const queueSchema = z
  .object({
    lanes: z.array(queueLaneSchema).describe('Every lane of every model family, zeros included.'),
    workers: z
      .object({ alive: count.describe('Live workers.'), busy: count.describe('Live workers rendering a job now.') })
      .describe('The fleet at a glance.'),
    throughput: z
      .array(
        z.object({
          family: z.string(),
          model: z.string(),
          execution_provider: z.string(),
          units_per_second: z.number().describe('Moving average of work units per second of one worker.'),
          samples: count.describe('Completed jobs measured.'),
        }),
      )
      .describe('Measured throughput by model family, model and execution provider.'),
  })
  .meta({ title: 'Queue', description: 'The render queue by model family and lane, with its backlog.' });

export type WorkerBody = z.output<typeof workerSchema>;
export type WorkersBody = z.output<typeof workersSchema>;
export type QueueBody = z.output<typeof queueSchema>;
export type QueueLaneBody = z.output<typeof queueLaneSchema>;
