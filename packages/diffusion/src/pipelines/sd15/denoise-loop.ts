/**
 * The denoising loop shared by every SD1.5 pipeline (diffusers' `for i, t in enumerate(timesteps)`):
 * scale the input, run the UNet with classifier-free guidance, step the scheduler. Inpainting plugs
 * in through `conditioning` (the 9-channel UNet's extra inputs) or `afterStep` (the 4-channel blend).
 */
import { RenderAbortedError } from '../../errors.js';
import type { HostTensor } from '../../models/onnx-session.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import type { RandomSource } from '../../rng/index.js';
import type { BrownianNoiseSource, Scheduler, StepOptions } from '../../schedulers/index.js';
import type { UnetResidualSource } from './controlnet-residuals.js';
import { applyGuidanceInPlace } from './guidance.js';

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
  /** The UNet's ControlNet residual inputs for each step (see controlnet-residuals.ts). */
  residuals?: UnetResidualSource;
  /** Runs after each scheduler step with the loop index; returns the latents to continue with. */
  afterStep?: (latents: Float32Array, index: number) => Float32Array;
  /**
   * Where DPM++ SDE's Brownian noise is drawn: the render's helper thread while the UNet holds
   * this one (micro-batches.ts, on an accelerator); inline when absent. The same numbers either way.
   */
  brownianNoise?: BrownianNoiseSource;
  signal?: { readonly aborted: boolean };
  onStep?: (step: number, totalSteps: number) => void;
}

/**
 * The UNet's `sample` input, one buffer for every step of a denoising loop: item b of the UNet
 * batch is image (b mod B)'s scaled latents (so with guidance the uncond and text halves are the
 * same latents: diffusers' `cat([latents] * 2)`), followed by an inpainting UNet's extra channels
 * (`cat([latent_model_input, mask, masked_image_latents], dim=1)`), which are written once.
 */
class UnetSampleBuffer {
  readonly data: Float32Array;
  private readonly latentSize: number;
  private readonly itemSize: number;

  constructor(
    private readonly unetBatch: number,
    private readonly images: number,
    channels: number,
    plane: number,
    conditioning: UnetConditioning | undefined,
  ) {
    this.latentSize = channels * plane;
    const extraSize = (conditioning?.channels ?? 0) * plane;
    this.itemSize = this.latentSize + extraSize;
    this.data = new Float32Array(unetBatch * this.itemSize);
    if (conditioning) {
      const extras = conditioning.data.length / extraSize;
      for (let b = 0; b < unetBatch; b++) {
        const image = b % extras;
        this.data.set(
          conditioning.data.subarray(image * extraSize, (image + 1) * extraSize),
          b * this.itemSize + this.latentSize,
        );
      }
    }
  }

  /** Writes this step's scaled latents ([B, 4, h, w]) into every UNet batch item. */
  write(scaled: Float32Array): Float32Array {
    for (let b = 0; b < this.unetBatch; b++) {
      const image = b % this.images;
      this.data.set(scaled.subarray(image * this.latentSize, (image + 1) * this.latentSize), b * this.itemSize);
    }
    return this.data;
  }
}

export async function denoise(inputs: DenoiseInputs): Promise<{ latents: Float32Array; unetCalls: number }> {
  const { model, scheduler, timesteps, shape, context, cfgScale, generators, conditioning } = inputs;
  const guided = cfgScale > 1;
  const [batch, channels, latentHeight, latentWidth] = shape;
  const unetBatch = guided ? batch * 2 : batch;
  const inChannels = channels + (conditioning?.channels ?? 0);
  let latents = inputs.latents;
  let unetCalls = 0;
  // Tensors reused by every step. Scaling is elementwise, so scaling B latents and then
  // repeating them is bit-identical to scaling the repeated batch, at half the work.
  const sample =
    guided || conditioning
      ? new UnetSampleBuffer(unetBatch, batch, channels, latentHeight * latentWidth, conditioning)
      : undefined;
  const timestep: HostTensor = { data: new Float32Array(unetBatch), dims: [unetBatch] };
  // A ControlNet takes the 4-channel model input of both guidance halves, without an inpainting
  // UNet's extra channels: the UNet's own sample buffer when it has none, else a buffer of its own.
  const controlSample =
    inputs.residuals && conditioning
      ? new UnetSampleBuffer(unetBatch, batch, channels, latentHeight * latentWidth, undefined)
      : undefined;
  const stepOptions: StepOptions = { shape, generators, eta: 0, brownianNoise: inputs.brownianNoise };
  for (let i = 0; i < timesteps.length; i++) {
    if (inputs.signal?.aborted) throw new RenderAbortedError();
    const t = timesteps[i];
    const scaled = scheduler.scaleModelInput(latents, t);
    scheduler.beforeModel?.(t, stepOptions);
    (timestep.data as Float32Array).fill(t);
    const feeds: Record<string, HostTensor> = {
      sample: {
        data: sample ? sample.write(scaled) : scaled,
        dims: [unetBatch, inChannels, latentHeight, latentWidth],
      },
      timestep,
      encoder_hidden_states: context,
    };
    if (inputs.residuals) {
      const control: HostTensor = conditioning
        ? {
            data: (controlSample as UnetSampleBuffer).write(scaled),
            dims: [unetBatch, channels, latentHeight, latentWidth],
          }
        : feeds.sample;
      Object.assign(feeds, await inputs.residuals.feeds(control, timestep, context, i, timesteps.length));
    }
    const out = await model.unet.run(feeds, ['out_sample']);
    unetCalls++;
    // The output is a fresh buffer each run, so guidance can overwrite it (schedulers may keep it).
    const raw = out.out_sample.data as Float32Array;
    const noisePred = guided ? applyGuidanceInPlace(raw, cfgScale) : raw;
    latents = scheduler.step(noisePred, t, latents, stepOptions);
    if (inputs.afterStep) latents = inputs.afterStep(latents, i);
    inputs.onStep?.(i + 1, timesteps.length);
  }
  if (inputs.signal?.aborted) throw new RenderAbortedError();
  return { latents, unetCalls };
}
