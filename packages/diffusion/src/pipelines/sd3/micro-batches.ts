/**
 * Renders an SD3 request's images in micro-batches and decodes them. Each image has its own
 * generator seeded with its seed, so its pixels do not depend on which batch it was rendered in.
 */
import type { Sd3Model } from '../../models/sd3-model.js';
import { createGenerator, type RandomSource } from '../../rng/index.js';
import type { RenderHooks, RenderResult, RenderedImage } from '../sd15/render-types.js';
import type { Sd3Params } from './render-params.js';
import { decodeSd3Latents } from './vae.js';

export interface Sd3MicroBatch {
  seeds: readonly number[];
  size: number;
  /** One per image, fresh (nothing drawn yet). */
  generators: RandomSource[];
  /** [size, 16, height/8, width/8] */
  shape: number[];
  reportStep(step: number, totalSteps: number): void;
}

export interface Sd3DenoisedBatch {
  /** [size, 16, height/8, width/8], before the VAE shift and scale. */
  latents: Float32Array;
  totalSteps: number;
  transformerCalls: number;
}

export async function renderSd3MicroBatches(
  model: Sd3Model,
  p: Sd3Params,
  hooks: RenderHooks,
  denoiseBatch: (batch: Sd3MicroBatch) => Promise<Sd3DenoisedBatch>,
): Promise<RenderResult> {
  const sessions = [
    model.clipL.session,
    model.clipG.session,
    model.t5?.session,
    model.transformer,
    model.vaeDecoder,
    model.vaeEncoder,
  ];
  const onnxMs = () => sessions.reduce((sum, s) => sum + (s?.runMs ?? 0), 0);
  const started = performance.now();
  const onnxBefore = onnxMs();
  const latentHeight = p.height / 8;
  const latentWidth = p.width / 8;
  const perImage = model.latentChannels * latentHeight * latentWidth;
  const images: RenderedImage[] = [];
  const finalLatents: Float32Array[] = [];
  let transformerCalls = 0;

  for (let first = 0; first < p.seeds.length; first += p.microBatchSize) {
    const seeds = p.seeds.slice(first, first + p.microBatchSize);
    const batch: Sd3MicroBatch = {
      seeds,
      size: seeds.length,
      generators: seeds.map((s) => createGenerator(s, p.rng)),
      shape: [seeds.length, model.latentChannels, latentHeight, latentWidth],
      reportStep: (step, totalSteps) =>
        hooks.onProgress?.({ step, totalSteps, imagesDone: first, numImages: p.seeds.length }),
    };
    const denoised = await denoiseBatch(batch);
    transformerCalls += denoised.transformerCalls;
    for (let b = 0; b < batch.size; b++) {
      const own = denoised.latents.slice(b * perImage, (b + 1) * perImage);
      finalLatents.push(own);
      const decoded = await decodeSd3Latents(model, own, latentHeight, latentWidth);
      images.push({ seed: seeds[b], ...decoded, removedForSafety: false, safetyScore: null });
    }
    const totalSteps = denoised.totalSteps;
    hooks.onProgress?.({ step: totalSteps, totalSteps, imagesDone: first + batch.size, numImages: p.seeds.length });
  }
  // `unetCalls` is RenderResult's name for denoiser calls: here, transformer calls.
  const timings = { totalMs: performance.now() - started, onnxMs: onnxMs() - onnxBefore, unetCalls: transformerCalls };
  return { images, latents: finalLatents, timings };
}
