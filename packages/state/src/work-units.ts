/**
 * What a render job costs, in units that do not depend on the hardware: UNet passes over a
 * megapixel. A worker's throughput in these units (measured per model and execution provider)
 * turns a queue of very different jobs into worker-seconds (docs/operations.md, "Autoscaling").
 *
 *   units = denoising steps × megapixels × images × (2 with classifier-free guidance)
 *
 * Denoising steps are the steps actually run: image-to-image runs ⌊steps × strength⌋ of them, as
 * diffusers does. Guidance doubles the UNet batch when cfg_scale > 1, as in the pipelines.
 */
import type { RenderJobData } from '@kiln/contracts';
import { PRIORITY } from '@kiln/queue';

/** The queue lanes Kiln serves in order: sync requests, async requests, batch items (and batch-lane keys). */
export const LANES = ['interactive', 'async', 'batch'] as const;
export type Lane = (typeof LANES)[number];

export interface JobWork {
  family: string;
  lane: Lane;
  units: number;
}

/** The parts of a job the cost depends on (a job payload has them all). */
export interface WorkShape {
  steps: number;
  width: number;
  height: number;
  images: number;
  cfgScale: number;
  /** Only for image-to-image (an init image): the fraction of the steps that run. */
  strength?: number;
}

export function workUnits(shape: WorkShape): number {
  const steps = shape.strength === undefined ? shape.steps : Math.max(1, Math.floor(shape.steps * shape.strength));
  const megapixels = (shape.width * shape.height) / 1e6;
  return steps * megapixels * shape.images * (shape.cfgScale > 1 ? 2 : 1);
}

export function jobWorkShape(data: RenderJobData): WorkShape {
  const r = data.request;
  return {
    steps: r.steps,
    width: r.width,
    height: r.height,
    images: data.seeds.length,
    cfgScale: r.cfg_scale,
    ...(data.inputs.init_image !== undefined && r.strength !== undefined && { strength: r.strength }),
  };
}

/** The lane of a job from its BullMQ priority (render-job.ts PRIORITY; batch items are above it). */
export function laneOfPriority(priority: number | undefined): Lane {
  if (!priority) return 'interactive';
  return priority < PRIORITY.batch ? 'async' : 'batch';
}

export function jobWork(data: RenderJobData, priority: number | undefined): JobWork {
  return { family: data.family, lane: laneOfPriority(priority), units: workUnits(jobWorkShape(data)) };
}
