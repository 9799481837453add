/**
 * The VAE encoder stage of image-to-image and inpainting: pixels → latent distribution → a sample
 * scaled by the VAE factor, drawing from each image's generator exactly as diffusers does.
 *
 * Two ONNX layouts exist: diffusers' export outputs `latent_sample` (the encoder samples inside the
 * graph with its own RNG), optimum's outputs `latent_parameters` (mean ‖ log-variance, 8 channels).
 * In both cases Kiln draws one latent-shaped normal from the image's generator, as diffusers'
 * `retrieve_latents` → `latent_dist.sample(generator)` does in torch before any other draw, so the
 * noise drawn next is the same as diffusers' for the same seed. For `latent_parameters` that draw
 * is the posterior sample `mean + exp(0.5 · clamp(logvar, −30, 20)) · ε`; for `latent_sample` it is
 * drawn and left unused (the graph has already sampled).
 */
import type { RgbImage } from '../../image/raster.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import { randnPerItem, type RandomSource } from '../../rng/index.js';
import { encodeGeometry, runTiled, type Planar } from './vae-tiles.js';

const f32 = Math.fround;

/** The encoder's output for one image: [1, 4, h, w] mean and, for `latent_parameters`, its std. */
export interface LatentDistribution {
  mean: Float32Array;
  std: Float32Array | null;
  dims: readonly number[];
}

/** diffusers' `VaeImageProcessor`: `x / 255`, then `2x − 1`, float32, HWC uint8 → NCHW [1, 3, H, W]. */
export function rgbToVaeInput(image: RgbImage): Float32Array {
  const table = Float32Array.from({ length: 256 }, (_, v) => f32(f32(2 * f32(v / 255)) - 1));
  const plane = image.width * image.height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = table[image.pixels[p * 3 + c]];
  }
  return out;
}

/**
 * Runs the VAE encoder on one [1, 3, H, W] image; an image larger than `tileLatent` latent pixels
 * (× 8) on a side is encoded in overlapping tiles blended as diffusers' `tiled_encode` blends its
 * moments (vae-tiles.ts). For `latent_parameters` the blend is on the moments, as in diffusers;
 * for `latent_sample` (the graph samples inside) it is on the graph's samples.
 */
export async function encodeLatentDistribution(
  model: Sd15Model,
  input: Float32Array,
  width: number,
  height: number,
  tileLatent: number | null = null,
): Promise<LatentDistribution> {
  const encoder = model.vaeEncoder;
  if (!encoder) throw new Error('encodeLatentDistribution: the model has no vae_encoder');
  const outputName = encoder.outputs.has('latent_parameters')
    ? 'latent_parameters'
    : encoder.outputs.has('latent_sample')
      ? 'latent_sample'
      : [...encoder.outputs.keys()][0];
  const runEncoder = async (image: Planar): Promise<Planar> => {
    const dims = [1, 3, image.height, image.width];
    const out = (await encoder.run({ sample: { data: image.data, dims } }, [outputName]))[outputName];
    const [, channels, h, w] = out.dims;
    return { data: out.data as Float32Array, channels, height: h, width: w };
  };
  const image: Planar = { data: input, channels: 3, height, width };
  const tiled = tileLatent !== null && (height > tileLatent * 8 || width > tileLatent * 8);
  const out = tiled ? await runTiled(image, encodeGeometry(tileLatent), runEncoder) : await runEncoder(image);
  const { data, channels, height: h, width: w } = out;
  if (outputName !== 'latent_parameters') return { mean: data, std: null, dims: [1, channels, h, w] };
  // DiagonalGaussianDistribution: mean, logvar = chunk(parameters, 2, dim=1); std = exp(0.5 · logvar)
  const half = (channels / 2) * h * w;
  const mean = data.slice(0, half);
  const std = Float32Array.from(data.subarray(half, 2 * half), (logvar) =>
    f32(Math.exp(f32(0.5 * Math.min(Math.max(logvar, -30), 20)))),
  );
  return { mean, std, dims: [1, channels / 2, h, w] };
}

/**
 * One posterior sample per generator, times the VAE scaling factor: [batch, 4, h, w]. Draws one
 * latent-shaped normal from each generator (see the file comment).
 */
export function sampleImageLatents(
  model: Sd15Model,
  distribution: LatentDistribution,
  generators: readonly RandomSource[],
): Float32Array {
  const [, channels, h, w] = distribution.dims;
  const normals = randnPerItem(generators, [generators.length, channels, h, w]);
  const factor = f32(model.vaeScalingFactor);
  const { mean, std } = distribution;
  const out = new Float32Array(normals.length);
  for (let i = 0; i < out.length; i++) {
    const k = i % mean.length;
    const sample = std ? f32(mean[k] + f32(std[k] * normals[i])) : mean[k];
    out[i] = f32(sample * factor);
  }
  return out;
}

/**
 * The draw diffusers makes for a posterior sample whose result Kiln does not need (the 4-channel
 * inpainting path encodes the masked image but never uses it): keeps the generators in step.
 */
export function skipPosteriorDraw(generators: readonly RandomSource[], shape: readonly number[]): void {
  randnPerItem(generators, shape);
}
