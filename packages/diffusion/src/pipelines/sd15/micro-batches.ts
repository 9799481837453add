/**
 * Renders a request's images in micro-batches and decodes them. Each image has its own generator
 * (torch's CPU generator seeded with its seed, or the NV source), so its pixels do not depend on
 * which batch it was rendered in: image i of a request equals the same seed rendered alone.
 */
import type { RgbImage } from '../../image/raster.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import { noiseAheadFor } from '../../noise-ahead/noise-ahead.js';
import { createGenerator, type RandomSource } from '../../rng/index.js';
import type { BrownianNoiseSource } from '../../schedulers/index.js';
import { decodeLatents } from './decode-latents.js';
import type { MemoryPlan } from './memory-plan.js';
import type { RenderParams } from './render-params.js';
import type { RenderHooks, RenderResult, RenderedImage } from './render-types.js';

export const LATENT_CHANNELS = 4;

/** One micro-batch as the pipeline's "prepare latents" and "denoise" stages see it. */
export interface MicroBatch {
  /** Index in the request of the batch's first image. */
  first: number;
  seeds: readonly number[];
  size: number;
  /** One per image, fresh (nothing drawn yet). */
  generators: RandomSource[];
  /** [size, 4, height/8, width/8] */
  shape: number[];
  /** Progress of denoising step `step` (1-based) of `totalSteps` within this batch. */
  reportStep(step: number, totalSteps: number): void;
  /** The render's helper thread for DPM++ SDE's Brownian noise, on an accelerator (noise-ahead.ts). */
  brownianNoise?: BrownianNoiseSource;
}

export interface DenoisedBatch {
  /** [size, 4, height/8, width/8], before the VAE scaling. */
  latents: Float32Array;
  totalSteps: number;
  unetCalls: number;
}

/** A micro-batch's geometry as the UNet's residual inputs need it. */
export function batchGeometry(p: RenderParams, size: number, guided: boolean) {
  return { size, guided, latentHeight: p.height / 8, latentWidth: p.width / 8 };
}

/** Measures a render: wall time and the time spent inside onnxruntime, from the pipeline's first stage. */
export function startRenderClock(model: Sd15Model) {
  const sessions = () => [
    model.textEncoder,
    model.unet,
    model.vaeDecoder,
    model.vaeEncoder,
    ...[...model.controlnets.values()].map((c) => c.session),
  ];
  const onnxMs = () => sessions().reduce((sum, s) => sum + (s?.runMs ?? 0), 0);
  const started = performance.now();
  const onnxBefore = onnxMs();
  return {
    timings(unetCalls: number): RenderResult['timings'] {
      return { totalMs: performance.now() - started, onnxMs: onnxMs() - onnxBefore, unetCalls };
    },
  };
}

/**
 * For each micro-batch of the memory plan's size: `denoiseBatch` (prepare latents + denoise loop),
 * then decode each image and hand it to `finishImage` (inpainting's paste-back), reporting progress.
 */
export async function renderMicroBatches(
  model: Sd15Model,
  p: RenderParams,
  plan: MemoryPlan,
  hooks: RenderHooks,
  clock: ReturnType<typeof startRenderClock>,
  denoiseBatch: (batch: MicroBatch) => Promise<DenoisedBatch>,
  finishImage?: (image: RgbImage) => Promise<RgbImage>,
): Promise<RenderResult> {
  const latentHeight = p.height / 8;
  const latentWidth = p.width / 8;
  const perImage = LATENT_CHANNELS * latentHeight * latentWidth;
  const images: RenderedImage[] = [];
  const finalLatents: Float32Array[] = [];
  let unetCalls = 0;
  const noiseAhead = noiseAheadFor(model.unet.executionProvider);
  try {
    for (let first = 0; first < p.seeds.length; first += plan.microBatchSize) {
      const seeds = p.seeds.slice(first, first + plan.microBatchSize);
      const size = seeds.length;
      const batch: MicroBatch = {
        first,
        seeds,
        size,
        generators: seeds.map((s) => createGenerator(s, p.rng)),
        shape: [size, LATENT_CHANNELS, latentHeight, latentWidth],
        reportStep: (step, totalSteps) =>
          hooks.onProgress?.({ step, totalSteps, imagesDone: first, numImages: p.seeds.length }),
        brownianNoise: noiseAhead?.source,
      };
      const denoised = await denoiseBatch(batch);
      unetCalls += denoised.unetCalls;

      for (let b = 0; b < size; b++) {
        const own = denoised.latents.slice(b * perImage, (b + 1) * perImage);
        finalLatents.push(own);
        let decoded: RgbImage = await decodeLatents(model, own, latentHeight, latentWidth, plan.tileLatent);
        if (finishImage) decoded = await finishImage(decoded);
        images.push({ seed: seeds[b], ...decoded, removedForSafety: false, safetyScore: null });
      }
      hooks.onProgress?.({
        step: denoised.totalSteps,
        totalSteps: denoised.totalSteps,
        imagesDone: first + size,
        numImages: p.seeds.length,
      });
    }
  } finally {
    noiseAhead?.close();
  }
  return { images, latents: finalLatents, timings: clock.timings(unetCalls) };
}
