/**
 * Stable Diffusion 1.5 text-to-image, stage by stage as diffusers' StableDiffusionPipeline:
 * check inputs → encode prompt → prepare latents → denoise → decode → postprocess.
 * Images are rendered in micro-batches; each image has its own generator, so its pixels do not
 * depend on which batch it was rendered in.
 */
import { RenderAbortedError, RenderInputError } from '../../errors.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import { createGenerator, randnPerItem, type RngSource } from '../../rng/index.js';
import { createScheduler } from '../../schedulers/index.js';
import { decodeLatents } from './decode-latents.js';
import { encodePrompts, type PromptEmbeddings } from './encode-prompt.js';
import { applyGuidance, duplicateBatch } from './guidance.js';
import type { RenderHooks, RenderResult, RenderedImage } from './render-types.js';

export interface TextToImageParams {
  prompt: string;
  negativePrompt: string;
  sampler: string;
  steps: number;
  cfgScale: number;
  width: number;
  height: number;
  /** One per image, in output order. */
  seeds: readonly number[];
  clipSkip: number;
  /** Images per UNet call (classifier-free guidance doubles the UNet batch). */
  microBatchSize: number;
  rng?: RngSource;
}

const LATENT_CHANNELS = 4;

function checkInputs(model: Sd15Model, p: TextToImageParams): void {
  if (p.width % 8 !== 0 || p.height % 8 !== 0) {
    throw new RenderInputError('input_rejected', 'width and height must be multiples of 8', 'width');
  }
  if (model.unetInChannels !== LATENT_CHANNELS) {
    throw new RenderInputError(
      'input_rejected',
      `this model's UNet takes ${model.unetInChannels} channels (an inpainting model): send init_image and mask_image`,
      'mask_image',
    );
  }
  if (p.seeds.length === 0) throw new RenderInputError('input_rejected', 'at least one seed is needed', 'seed');
}

/** [n copies of a, n copies of b] along the batch axis; b omitted → n copies of a. */
function repeatEmbeddings(n: number, a: PromptEmbeddings, b?: PromptEmbeddings): Float32Array {
  const parts = b ? [a, b] : [a];
  const out = new Float32Array(parts.length * n * a.data.length);
  let offset = 0;
  for (const part of parts) {
    for (let i = 0; i < n; i++, offset += part.data.length) out.set(part.data, offset);
  }
  return out;
}

function timestepTensor(value: number, batch: number) {
  return { data: new Float32Array(batch).fill(value), dims: [batch] };
}

export async function textToImage(model: Sd15Model, p: TextToImageParams, hooks: RenderHooks = {}): Promise<RenderResult> {
  const started = performance.now();
  const onnxBefore = model.textEncoder.runMs + model.unet.runMs + model.vaeDecoder.runMs;
  checkInputs(model, p);
  const guided = p.cfgScale > 1;
  const { positive, negative } = await encodePrompts(model, p.prompt, p.negativePrompt, p.clipSkip);

  const latentHeight = p.height / 8;
  const latentWidth = p.width / 8;
  const images: RenderedImage[] = [];
  const finalLatents: Float32Array[] = [];
  let unetCalls = 0;

  for (let first = 0; first < p.seeds.length; first += p.microBatchSize) {
    const seeds = p.seeds.slice(first, first + p.microBatchSize);
    const batch = seeds.length;
    const shape = [batch, LATENT_CHANNELS, latentHeight, latentWidth];
    const scheduler = createScheduler(p.sampler, model.schedulerConfig);
    scheduler.setTimesteps(p.steps);
    const generators = seeds.map((s) => createGenerator(s, p.rng));

    // Initial latents are the first draw of every image's generator (diffusers' prepare_latents).
    let latents = randnPerItem(generators, shape);
    const sigma = Math.fround(scheduler.initNoiseSigma);
    if (sigma !== 1) for (let i = 0; i < latents.length; i++) latents[i] = Math.fround(latents[i] * sigma);

    const context = guided ? repeatEmbeddings(batch, negative, positive) : repeatEmbeddings(batch, positive);
    const unetBatch = guided ? batch * 2 : batch;
    const contextTensor = { data: context, dims: [unetBatch, positive.tokens, positive.dim] };

    const timesteps = scheduler.timesteps;
    for (let i = 0; i < timesteps.length; i++) {
      if (hooks.signal?.aborted) throw new RenderAbortedError();
      const t = timesteps[i];
      const modelInput = scheduler.scaleModelInput(guided ? duplicateBatch(latents) : latents, t);
      const out = await model.unet.run(
        {
          sample: { data: modelInput, dims: [unetBatch, LATENT_CHANNELS, latentHeight, latentWidth] },
          timestep: timestepTensor(t, unetBatch),
          encoder_hidden_states: contextTensor,
        },
        ['out_sample'],
      );
      unetCalls++;
      const raw = out.out_sample.data as Float32Array;
      const noisePred = guided ? applyGuidance(raw, p.cfgScale) : raw;
      latents = scheduler.step(noisePred, t, latents, { shape, generators, eta: 0 });
      hooks.onProgress?.({ step: i + 1, totalSteps: timesteps.length, imagesDone: first, numImages: p.seeds.length });
    }
    if (hooks.signal?.aborted) throw new RenderAbortedError();

    const perImage = LATENT_CHANNELS * latentHeight * latentWidth;
    for (let b = 0; b < batch; b++) {
      const own = latents.slice(b * perImage, (b + 1) * perImage);
      finalLatents.push(own);
      const decoded = await decodeLatents(model, own, latentHeight, latentWidth);
      images.push({ seed: seeds[b], ...decoded, removedForSafety: false, safetyScore: null });
    }
    hooks.onProgress?.({
      step: timesteps.length,
      totalSteps: timesteps.length,
      imagesDone: first + batch,
      numImages: p.seeds.length,
    });
  }
  const onnxMs = model.textEncoder.runMs + model.unet.runMs + model.vaeDecoder.runMs - onnxBefore;
  return { images, latents: finalLatents, timings: { totalMs: performance.now() - started, onnxMs, unetCalls } };
}
