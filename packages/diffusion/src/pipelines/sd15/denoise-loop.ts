/**
 * The denoising loop shared by every SD1.5 pipeline (diffusers' `for i, t in enumerate(timesteps)`):
 * scale the input, run the UNet with classifier-free guidance, step the scheduler. Inpainting plugs
 * in through `conditioning` (the 9-channel UNet's extra inputs) or `afterStep` (the 4-channel blend).
 */
import { RenderAbortedError } from '../../errors.js';
import type { HostTensor } from '../../models/onnx-session.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import type { RandomSource } from '../../rng/index.js';
import type { Scheduler } from '../../schedulers/index.js';
import { applyGuidance, duplicateBatch } from './guidance.js';

/** Extra UNet input channels per image (an inpainting UNet's mask and masked-image latents). */
export interface UnetConditioning {
  /** [batch, channels, height/8, width/8] */
  data: Float32Array;
  channels: number;
}

export interface DenoiseInputs {
  model: Sd15Model;
  scheduler: Scheduler;
  /** The timesteps to run, in order: all of them, or the tail image-to-image starts at. */
  timesteps: readonly number[];
  latents: Float32Array;
  /** [batch, 4, height/8, width/8] */
  shape: readonly number[];
  /** `encoder_hidden_states`, already doubled for guidance (see promptContext). */
  context: HostTensor;
  cfgScale: number;
  generators: readonly RandomSource[];
  conditioning?: UnetConditioning;
  /** Runs after each scheduler step with the loop index; returns the latents to continue with. */
  afterStep?: (latents: Float32Array, index: number) => Float32Array;
  signal?: { readonly aborted: boolean };
  onStep?: (step: number, totalSteps: number) => void;
}

function timestepTensor(value: number, batch: number): HostTensor {
  return { data: new Float32Array(batch).fill(value), dims: [batch] };
}

/** diffusers' `cat([latent_model_input, mask, masked_image_latents], dim=1)`, the extras repeated for each guidance half. */
function withConditioning(input: Float32Array, conditioning: UnetConditioning, unetBatch: number, plane: number): Float32Array {
  const latentSize = 4 * plane;
  const extraSize = conditioning.channels * plane;
  const images = conditioning.data.length / extraSize;
  const out = new Float32Array(unetBatch * (latentSize + extraSize));
  for (let b = 0; b < unetBatch; b++) {
    const at = b * (latentSize + extraSize);
    out.set(input.subarray(b * latentSize, (b + 1) * latentSize), at);
    const image = b % images;
    out.set(conditioning.data.subarray(image * extraSize, (image + 1) * extraSize), at + latentSize);
  }
  return out;
}

export async function denoise(inputs: DenoiseInputs): Promise<{ latents: Float32Array; unetCalls: number }> {
  const { model, scheduler, timesteps, shape, context, cfgScale, generators, conditioning } = inputs;
  const guided = cfgScale > 1;
  const [batch, channels, latentHeight, latentWidth] = shape;
  const unetBatch = guided ? batch * 2 : batch;
  const inChannels = channels + (conditioning?.channels ?? 0);
  let latents = inputs.latents;
  let unetCalls = 0;
  for (let i = 0; i < timesteps.length; i++) {
    if (inputs.signal?.aborted) throw new RenderAbortedError();
    const t = timesteps[i];
    let modelInput = scheduler.scaleModelInput(guided ? duplicateBatch(latents) : latents, t);
    if (conditioning) modelInput = withConditioning(modelInput, conditioning, unetBatch, latentHeight * latentWidth);
    const out = await model.unet.run(
      {
        sample: { data: modelInput, dims: [unetBatch, inChannels, latentHeight, latentWidth] },
        timestep: timestepTensor(t, unetBatch),
        encoder_hidden_states: context,
      },
      ['out_sample'],
    );
    unetCalls++;
    const raw = out.out_sample.data as Float32Array;
    const noisePred = guided ? applyGuidance(raw, cfgScale) : raw;
    latents = scheduler.step(noisePred, t, latents, { shape, generators, eta: 0 });
    if (inputs.afterStep) latents = inputs.afterStep(latents, i);
    inputs.onStep?.(i + 1, timesteps.length);
  }
  if (inputs.signal?.aborted) throw new RenderAbortedError();
  return { latents, unetCalls };
}
