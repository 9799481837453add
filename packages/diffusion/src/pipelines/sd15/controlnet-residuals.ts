/**
 * The ControlNet stage of a denoising step, as diffusers' StableDiffusionControlNetPipeline (and its
 * img2img and inpainting siblings, and MultiControlNetModel for several) does it:
 *
 * - the conditioning image, already at the output size, becomes `u8 / 255` in float32, NCHW (no
 *   [-1, 1] normalisation: `VaeImageProcessor(do_normalize=False)`), repeated for each image of the
 *   batch and, with guidance, doubled (`cat([image] * 2)`);
 * - per step i of N, each ControlNet runs on the same scaled model input as the UNet (both guidance
 *   halves, 4 latent channels even for a 9-channel inpainting UNet) with conditioning scale
 *   `controlnet_conditioning_scale × keep[i]`, `keep[i] = 1 − (i/N < start or (i+1)/N > end)`;
 *   it is run even when that scale is 0 (its outputs are then exactly 0);
 * - several ControlNets' residuals are summed in order (float32), and fed to the UNet's residual
 *   inputs.
 *
 * A UNet that requires residual inputs renders without a ControlNet by getting zeros, which adds
 * nothing (bit-identical to the same UNet exported without them).
 */
import { RenderInputError } from '../../errors.js';
import type { RgbImage } from '../../image/raster.js';
import type { ControlNetModel, ControlNetResiduals } from '../../models/controlnet-model.js';
import type { HostTensor } from '../../models/onnx-session.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import { residualSizes } from '../../models/unet-residual-inputs.js';

/** One ControlNet of a render, with its conditioning image and schedule. */
export interface ControlNetInput {
  /** The ControlNet's `model.onnx` as loaded with the model (a key of `model.controlnets`). */
  model: string;
  /** The conditioning image, at the output's width × height. */
  image: RgbImage;
  /** `controlnet_conditioning_scale`. */
  scale: number;
  /** `controlnet_early_stop`: diffusers' `control_guidance_end`, the fraction of steps after which it stops acting. */
  end: number;
  /** diffusers' `control_guidance_start` (default 0). */
  start?: number;
  /** The request field to blame for this ControlNet's problems. */
  field?: string;
}

/** What a denoising step adds to the UNet's feeds. */
export interface UnetResidualSource {
  feeds(
    controlSample: HostTensor,
    timestep: HostTensor,
    context: HostTensor,
    step: number,
    totalSteps: number,
  ): Promise<Record<string, HostTensor>>;
  /** ControlNet calls made so far (for timings and tests). */
  readonly controlNetCalls: number;
}

/** diffusers' `controlnet_keep[i]`. */
export function controlNetKeep(step: number, totalSteps: number, start: number, end: number): number {
  return 1 - Number(step / totalSteps < start || (step + 1) / totalSteps > end);
}

/** `u8 / 255` as float32, NCHW, repeated `copies` times along the batch axis. */
export function conditioningTensor(image: RgbImage, copies: number): HostTensor {
  const { width, height, pixels } = image;
  const plane = width * height;
  const one = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) one[c * plane + i] = Math.fround(pixels[i * 3 + c] / 255);
  }
  const data = new Float32Array(copies * one.length);
  for (let b = 0; b < copies; b++) data.set(one, b * one.length);
  return { data, dims: [copies, 3, height, width] };
}

/** The first problem with the render's ControlNets on this model, as a 422 naming the field. */
export function checkControlNets(
  model: Sd15Model,
  controls: readonly ControlNetInput[],
  size: { width: number; height: number },
): void {
  if (controls.length === 0) return;
  const residuals = model.unetResiduals;
  if (!residuals) {
    throw new RenderInputError(
      'input_rejected',
      "this model's UNet has no ControlNet residual inputs (down_block_additional_residuals / " +
        'mid_block_additional_residual): install a UNet exported with ControlNet inputs to use a ControlNet',
      'controlnet',
    );
  }
  for (const control of controls) {
    const field = control.field ?? 'controlnet';
    const net = model.controlnets.get(control.model);
    if (!net) throw new Error(`ControlNet ${control.model} was not loaded with the model`);
    if (net.downOutputs.length !== residuals.down.length) {
      throw new RenderInputError(
        'input_rejected',
        `the ControlNet gives ${net.downOutputs.length} down residuals but this model's UNet takes ` +
          `${residuals.down.length}: they are not made for each other`,
        field,
      );
    }
    const mismatch = net.downChannels.findIndex((c, i) => {
      const expected = residuals.downChannels[i];
      return c !== undefined && expected !== undefined && c !== expected;
    });
    if (mismatch >= 0) {
      throw new RenderInputError(
        'input_rejected',
        `the ControlNet's down residual ${mismatch} has ${net.downChannels[mismatch]} channels where this ` +
          `model's UNet takes ${residuals.downChannels[mismatch]}: they are not made for each other`,
        field,
      );
    }
    if (control.image.width !== size.width || control.image.height !== size.height) {
      throw new RenderInputError(
        'input_rejected',
        `the conditioning image is ${control.image.width}×${control.image.height} but the output is ` +
          `${size.width}×${size.height}; resize it first`,
        'controlnet_image',
      );
    }
    if (!(control.scale >= 0) || !Number.isFinite(control.scale)) {
      throw new RenderInputError(
        'input_rejected',
        `controlnet_conditioning_scale must be ≥ 0, got ${control.scale}`,
        'controlnet_conditioning_scale',
      );
    }
    if (!(control.end >= 0 && control.end <= 1)) {
      throw new RenderInputError(
        'input_rejected',
        `controlnet_early_stop must be in [0, 1], got ${control.end}`,
        'controlnet_early_stop',
      );
    }
  }
}

function addInPlace(into: Float32Array, from: Float32Array): void {
  for (let i = 0; i < into.length; i++) into[i] = Math.fround(into[i] + from[i]);
}

/** Zeros for every residual input: a UNet that requires them renders as if it had none. */
function zeroResiduals(model: Sd15Model, unetBatch: number, latentHeight: number, latentWidth: number) {
  const residuals = model.unetResiduals;
  if (!residuals) return {};
  const sizes = residualSizes(residuals.down.length, latentHeight, latentWidth, model.unetLayersPerBlock);
  const zeros = (channels: number | undefined, [h, w]: [number, number]): HostTensor => {
    if (channels === undefined) {
      throw new RenderInputError(
        'input_rejected',
        "this model's UNet requires ControlNet residuals of undeclared channel counts: send a controlnet",
        'controlnet',
      );
    }
    return { data: new Float32Array(unetBatch * channels * h * w), dims: [unetBatch, channels, h, w] };
  };
  const feeds: Record<string, HostTensor> = {};
  residuals.down.forEach((name, i) => (feeds[name] = zeros(residuals.downChannels[i], sizes.down[i])));
  feeds[residuals.mid] = zeros(residuals.midChannels, sizes.mid);
  return feeds;
}

/**
 * The residual feeds of one micro-batch's denoising loop: undefined for a plain UNet without
 * ControlNets, zeros for a residual UNet without them, otherwise the ControlNets' summed outputs.
 */
export function unetResidualSource(
  model: Sd15Model,
  controls: readonly ControlNetInput[],
  batch: { size: number; guided: boolean; latentHeight: number; latentWidth: number },
): UnetResidualSource | undefined {
  const residuals = model.unetResiduals;
  if (!residuals) return undefined;
  const unetBatch = batch.guided ? batch.size * 2 : batch.size;
  if (controls.length === 0) {
    const feeds = zeroResiduals(model, unetBatch, batch.latentHeight, batch.latentWidth);
    return { feeds: () => Promise.resolve(feeds), controlNetCalls: 0 };
  }
  const nets: { net: ControlNetModel; cond: HostTensor; control: ControlNetInput }[] = controls.map((control) => ({
    net: model.controlnets.get(control.model) as ControlNetModel,
    cond: conditioningTensor(control.image, unetBatch),
    control,
  }));
  let calls = 0;
  return {
    get controlNetCalls() {
      return calls;
    },
    async feeds(controlSample, timestep, context, step, totalSteps) {
      let sum: ControlNetResiduals | undefined;
      for (const { net, cond, control } of nets) {
        const keep = controlNetKeep(step, totalSteps, control.start ?? 0, control.end);
        const out = await net.run(controlSample, timestep, context, cond, Math.fround(control.scale * keep));
        calls++;
        if (!sum) sum = out;
        else {
          sum.down.forEach((t, i) => addInPlace(t.data as Float32Array, out.down[i].data as Float32Array));
          addInPlace(sum.mid.data as Float32Array, out.mid.data as Float32Array);
        }
      }
      const feeds: Record<string, HostTensor> = {};
      const total = sum as ControlNetResiduals;
      residuals.down.forEach((name, i) => (feeds[name] = total.down[i]));
      feeds[residuals.mid] = total.mid;
      return feeds;
    },
  };
}
