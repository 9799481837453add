/**
 * SD3's 16-channel VAE at both ends of a render, with the model's shift and scale:
 * decode `z = latents / scaling_factor + shift_factor` (divide first, then shift), and encode
 * `(posterior_sample − shift_factor) · scaling_factor`.
 */
import type { RgbImage } from '../../image/raster.js';
import type { Sd3Model } from '../../models/sd3-model.js';
import { randnPerItem, type RandomSource } from '../../rng/index.js';
import { rgbToVaeInput } from '../sd15/vae-encode.js';

const f32 = Math.fround;

/**
 * VAE-decodes one image's latents and postprocesses as diffusers: `(x / 2 + 0.5).clamp(0, 1)`,
 * `round(x · 255)`, NCHW → HWC.
 */
export async function decodeSd3Latents(
  model: Sd3Model,
  latents: Float32Array,
  latentHeight: number,
  latentWidth: number,
): Promise<RgbImage> {
  const scale = f32(model.vaeScalingFactor);
  const shift = f32(model.vaeShiftFactor);
  const z = latents.map((v) => f32(v / scale) + shift);
  const out = await model.vaeDecoder.run(
    { latent_sample: { data: z, dims: [1, model.latentChannels, latentHeight, latentWidth] } },
    ['sample'],
  );
  const sample = out.sample.data as Float32Array;
  const [, , height, width] = out.sample.dims;
  const plane = height * width;
  const pixels = new Uint8Array(plane * 3);
  // A Uint8ClampedArray store clamps to [0, 255] and rounds half to even, as numpy's round does.
  const clamped = new Uint8ClampedArray(pixels.buffer);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) clamped[p * 3 + c] = f32(f32(f32(sample[c * plane + p] / 2) + 0.5) * 255);
  }
  return { pixels, width, height };
}

/** The VAE encoder's posterior for one image: mean and std, [1, 16, h, w] each. */
export interface Sd3Posterior {
  mean: Float32Array;
  std: Float32Array;
  dims: readonly number[];
}

/**
 * Runs the encoder on the init image. optimum's export outputs `latent_parameters` (mean ‖ log-variance);
 * std = `exp(0.5 · clamp(logvar, −30, 20))` as diffusers' DiagonalGaussianDistribution.
 */
export async function encodePosterior(model: Sd3Model, image: RgbImage): Promise<Sd3Posterior> {
  const encoder = model.vaeEncoder;
  if (!encoder) throw new Error('encodePosterior: the model has no vae_encoder');
  if (!encoder.outputs.has('latent_parameters')) {
    throw new Error(`${encoder.path}: expected optimum's latent_parameters output (mean and log-variance)`);
  }
  const out = await encoder.run({ sample: { data: rgbToVaeInput(image), dims: [1, 3, image.height, image.width] } }, [
    'latent_parameters',
  ]);
  const data = out.latent_parameters.data as Float32Array;
  const [, channels, h, w] = out.latent_parameters.dims;
  const half = (channels / 2) * h * w;
  const std = Float32Array.from(data.subarray(half, 2 * half), (logvar) =>
    f32(Math.exp(f32(0.5 * Math.min(Math.max(logvar, -30), 20)))),
  );
  return { mean: data.slice(0, half), std, dims: [1, channels / 2, h, w] };
}

/**
 * `(mean + std · ε − shift) · scale` per image, ε the first draw of each image's generator
 * (diffusers' `latent_dist.sample(generator)` before the noise): [batch, 16, h, w].
 */
export function sampleSd3ImageLatents(
  model: Sd3Model,
  posterior: Sd3Posterior,
  generators: readonly RandomSource[],
): Float32Array {
  const [, channels, h, w] = posterior.dims;
  const normals = randnPerItem(generators, [generators.length, channels, h, w]);
  const scale = f32(model.vaeScalingFactor);
  const shift = f32(model.vaeShiftFactor);
  const { mean, std } = posterior;
  const out = new Float32Array(normals.length);
  for (let i = 0; i < out.length; i++) {
    const k = i % mean.length;
    const sample = f32(mean[k] + f32(std[k] * normals[i]));
    out[i] = f32(f32(sample - shift) * scale);
  }
  return out;
}
