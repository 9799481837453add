/**
 * One render in a fresh process, for its peak resident memory (process.resourceUsage().maxRSS,
 * which includes loading the model). Takes one JSON argument (a MemoryProbeRequest) and prints one
 * JSON line (a MemoryProbeResult).
 *
 * `legacy` renders as Kiln did before memory was bounded (docs/memory.md): every session with an
 * arena and a memory pattern, no VAE tiling, no prompt chunk limit, no budget.
 */
import {
  DEFAULT_VAE_TILE_SIZE,
  RenderInputError,
  loadSd15Model,
  memoryProfile,
  textToImage,
  type SessionSettings,
} from '@kiln/diffusion';
import { estimateWorkerPeak } from '@kiln/memory';

export interface MemoryProbeRequest {
  modelDir: string;
  width: number;
  height: number;
  numImages: number;
  microBatch: number;
  steps: number;
  prompt: string;
  budgetBytes?: number;
  legacy: boolean;
}

export interface MemoryProbeResult {
  loadedRss: number;
  peakRss: number;
  afterRss: number;
  /** The estimate at the micro-batch the render used. */
  estimateBytes: number;
  microBatch: number;
  wallMs: number;
  /** A refused render's message (RenderInputError), e.g. a prompt of too many chunks. */
  refused?: string;
}

const LEGACY_SESSIONS: SessionSettings = {
  enableMemPattern: true,
  arenaParts: ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'safety_checker'],
};

async function probe(r: MemoryProbeRequest): Promise<MemoryProbeResult> {
  const model = await loadSd15Model(r.modelDir, r.legacy ? LEGACY_SESSIONS : {});
  const loadedRss = process.memoryUsage().rss;
  const seeds = Array.from({ length: r.numImages }, (_, i) => 1000 + i);
  const params = {
    prompt: r.prompt,
    negativePrompt: '',
    sampler: 'DDIM',
    steps: r.steps,
    cfgScale: 7.5,
    width: r.width,
    height: r.height,
    seeds,
    clipSkip: 1,
    microBatchSize: r.microBatch,
    ...(r.legacy
      ? { vaeTileSize: 65536, maxPromptChunks: Number.MAX_SAFE_INTEGER }
      : { memoryBudgetBytes: r.budgetBytes }),
  };
  const started = performance.now();
  let microBatch = 0;
  let refused: string | undefined;
  try {
    const result = await textToImage(model, params);
    microBatch = Math.ceil(r.numImages / (result.timings.unetCalls / r.steps));
  } catch (err) {
    if (!(err instanceof RenderInputError)) throw err;
    refused = err.message;
  }
  const wallMs = performance.now() - started;
  const profile = await memoryProfile(model);
  const estimate = estimateWorkerPeak(profile, {
    width: r.width,
    height: r.height,
    numImages: r.numImages,
    microBatch: microBatch || 1,
    guided: true,
    promptChunks: 1,
    encodesImage: false,
    vaeTileLatent: r.legacy ? null : DEFAULT_VAE_TILE_SIZE / 8,
  });
  return {
    loadedRss,
    peakRss: process.resourceUsage().maxRSS * 1024,
    afterRss: process.memoryUsage().rss,
    estimateBytes: estimate.totalBytes,
    microBatch,
    wallMs,
    refused,
  };
}

const result = await probe(JSON.parse(process.argv[2] ?? '{}') as MemoryProbeRequest);
process.stdout.write(`${JSON.stringify(result)}\n`);
