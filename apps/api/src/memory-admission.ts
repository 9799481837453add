/**
 * Memory admission: a request that fits no live worker's memory budget is refused before anything
 * is queued (422 naming `width`, with what it needs and what the largest worker allows), rather
 * than failing on a worker later. Workers publish their budget and their model's memory profile
 * (@kiln/state worker-capacity); with none published yet (no worker has started) the request is
 * queued and the worker that takes it applies its own budget. SD1.5 only: the estimate covers the
 * SD1.5 pipeline (docs/memory.md).
 */
import { KilnError, type GenerateRequest } from '@kiln/contracts';
import { chooseMicroBatch, estimateWorkerPeak, promptChunksAtMost, type RequestMemoryShape } from '@kiln/memory';
import { liveCapacities, type WorkerCapacity } from '@kiln/state';
import type { ApiDeps } from './deps.js';

const GIB = 2 ** 30;
/**
 * A ControlNet's weights as a share of its SD1.5 model's (the UNet's down half and mid block: 1.45 GB
 * of 4.3 GB fp32 for SD1.5, 3.4 MB of 19 MB for the tiny reference model), for requests whose
 * ControlNet sizes the API does not read.
 */
const CONTROLNET_WEIGHTS_SHARE = 0.35;
/** Capacities change when workers start and stop: a second's staleness costs nothing. */
const CACHE_MS = 1000;

export class MemoryAdmission {
  private cached: { at: number; capacities: Promise<WorkerCapacity[]> } | undefined;

  constructor(private readonly deps: Pick<ApiDeps, 'redis' | 'config'>) {}

  private capacities(): Promise<WorkerCapacity[]> {
    const now = performance.now();
    if (!this.cached || now - this.cached.at > CACHE_MS) {
      this.cached = { at: now, capacities: liveCapacities(this.deps.redis, this.deps.config.queuePrefix, 'sd15') };
    }
    return this.cached.capacities;
  }

  async assertFits(request: GenerateRequest): Promise<void> {
    if (request.family !== 'sd15') return;
    const capacities = await this.capacities();
    if (capacities.length === 0) return;
    const shape: Omit<RequestMemoryShape, 'vaeTileLatent'> = {
      width: request.width,
      height: request.height,
      numImages: request.num_images,
      microBatch: 1,
      guided: request.cfg_scale > 1,
      promptChunks: Math.max(promptChunksAtMost(request.prompt), promptChunksAtMost(request.negative_prompt ?? '')),
      encodesImage: request.init_image !== undefined,
      sampler: request.sampler,
    };
    const controlNetCount = request.controlnet === undefined ? 0 : [request.controlnet].flat().length;
    const on = (c: WorkerCapacity): RequestMemoryShape => ({
      ...shape,
      vaeTileLatent: c.vaeTileLatent,
      controlNets: {
        count: controlNetCount,
        weightsBytes: Math.round(controlNetCount * CONTROLNET_WEIGHTS_SHARE * c.profile.weightsBytes),
      },
    });
    const fits = capacities.some((c) => chooseMicroBatch(c.profile, on(c), c.budgetBytes) > 0);
    if (fits) return;
    const largest = capacities.reduce((a, b) => (b.budgetBytes > a.budgetBytes ? b : a));
    const needed = estimateWorkerPeak(largest.profile, on(largest)).totalBytes;
    throw new KilnError(
      'invalid_request',
      `a ${request.width}×${request.height} render needs about ${(needed / GIB).toFixed(1)} GiB on a worker; ` +
        `the largest worker budget is ${(largest.budgetBytes / GIB).toFixed(1)} GiB (KILN_WORKER_MEMORY_MB): ask for a smaller size`,
      { field: 'width' },
    );
  }
}
