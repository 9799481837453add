/**
 * The shapes the dashboard reads, as the API documents them (packages/contracts, GET /openapi.json).
 * Only the members the pages use; types only, so nothing of the contracts package is loaded in the page.
 */

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'canceled';

export interface JobImage {
  index: number;
  seed: number;
  url: string | null;
  content_type: string;
  removed_for_safety: boolean;
  safety_score: number | null;
}

export interface Job {
  id: string;
  status: JobStatus;
  family: 'sd15' | 'sd3';
  custom_id: string | null;
  batch_id: string | null;
  progress: {
    step: number;
    total_steps: number;
    images_done: number;
    num_images: number;
    stage: string | null;
  };
  queue_position: number | null;
  attempts_made: number;
  cancel_requested: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error: { code: string; message: string; field?: string } | null;
  seeds: number[];
  prediction_time_ms: number | null;
  images: JobImage[];
  /** The request as the job keeps it (defaults applied; prompts only with `log_prompt`). */
  parameters?: Record<string, unknown>;
}

export interface JobList {
  jobs: Job[];
  next_cursor: string | null;
}

export interface Batch {
  id: string;
  status: string;
  created_at: string;
  counts: Record<string, number>;
  progress: { done: number; total: number };
}

export interface QueueLane {
  family: string;
  lane: string;
  waiting: number;
  prioritized: number;
  delayed: number;
  active: number;
  /** steps × megapixels × images (× 2 with guidance) of the waiting jobs. */
  backlog_work_units: number;
  backlog_worker_seconds: number;
}

export interface Throughput {
  family: string;
  model: string;
  execution_provider: string;
  units_per_second: number;
  samples: number;
}

export interface QueueHealth {
  lanes: QueueLane[];
  workers: { alive: number; busy: number };
  throughput: Throughput[];
}

export interface Worker {
  id: string;
  host: string;
  families: string[];
  models_loaded: string[];
  execution_provider: string;
  versions: { kiln?: string; onnxruntime?: string; node?: string };
  current_job: string | null;
  started_at: string;
  last_heartbeat_at: string;
  busy_ratio: number;
}

export interface Readiness {
  status: string;
  redis: boolean;
  workers: number;
}
