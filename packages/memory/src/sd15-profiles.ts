/**
 * The activation profiles of the SD1.5 architectures Kiln knows, for the worker-memory estimate.
 * Plain object literals with no imports (they match `ModelMemoryProfile` minus `weightsBytes`,
 * which comes from the model folder's file sizes), so the API can use them beside the estimate.
 *
 * Convolution phases: the widest tensor of a stage (channels × pixels per latent pixel × 4 bytes)
 * times 4 tensors alive at once (a resnet's input, its two convolutions, the skip or upsampled
 * copy). Attention sites: where the architecture has them (downsample below the latent grid) and
 * their heads. Both were checked against measured peaks (docs/memory.md): the tiny model, and the
 * testkit's full-size SD1.5 (real dimensions, random weights; activations do not depend on the weights).
 */

const TENSORS_ALIVE = 4;
const f32Tensor = (channels: number, pixelsPerLatentPixel: number) =>
  TENSORS_ALIVE * 4 * channels * pixelsPerLatentPixel;

/** runwayml/stable-diffusion-v1-5: UNet [320, 640, 1280, 1280] with 8 heads, VAE [128, 256, 512, 512]. */
export const SD15_ACTIVATIONS = {
  textBytesPerChunk: 12 * 77 * 77 * 4 * 2 + 77 * 3072 * 4 * 3,
  contextDim: 768,
  unet: {
    // The up path concatenates skips: 640 channels at the latent resolution.
    convBytesPerLatentPixel: f32Tensor(640, 1),
    // CrossAttnDownBlock2D ×3 (latent, /2, /4) and the mid block (/8), mirrored on the way up.
    selfAttention: [1, 2, 4, 8].map((downsample) => ({ downsample, heads: 8 })),
    crossAttention: [1, 2, 4, 8].map((downsample) => ({ downsample, heads: 8 })),
    // Fused: the arena the testkit's full-size UNet kept after one guided image (2 batch items),
    // 39.1 KB per latent pixel and item at 512×512 and 37.0 at 768×768 (docs/memory.md); this
    // × the arena's 1.15 is 41.4 KB.
    fusedAttentionBytesPerLatentPixel: 36 * 1024,
  },
  vaeDecoder: {
    // The third up block's upsampler leaves 256 channels at 8× the latent resolution, and the last
    // block's first resnet holds three such tensors: 3 × 4 B × 256 × 64 per latent pixel, which is
    // what was measured on the testkit's full-size VAE (0.75 GiB at 512×512, 3.00 GiB at 1024×1024).
    convBytesPerLatentPixel: 3 * 4 * 256 * 64,
    selfAttention: [{ downsample: 1, heads: 1 }],
    fusedAttentionBytesPerLatentPixel: 0,
  },
  vaeEncoder: {
    // Measured 0.39 GiB at 512×512 on the full-size testkit VAE: below this 0.5 GiB.
    convBytesPerLatentPixel: f32Tensor(128, 64),
    selfAttention: [{ downsample: 1, heads: 1 }],
    fusedAttentionBytesPerLatentPixel: 0,
    residentBytesPerLatentPixel: 4 * 3 * 64,
  },
} as const;

/** `kiln models make-tiny` (packages/testkit TINY): UNet [32, 64], 2 heads, attention in its last block. */
export const KILN_TINY_ACTIVATIONS = {
  textBytesPerChunk: 2 * 77 * 77 * 4 * 2 + 77 * 128 * 4 * 3,
  contextDim: 32,
  unet: {
    convBytesPerLatentPixel: f32Tensor(96, 1),
    selfAttention: [{ downsample: 2, heads: 2 }],
    crossAttention: [{ downsample: 2, heads: 2 }],
    // Fused: 2.8 KB per latent pixel and item kept after a guided 1024×1024 image (docs/memory.md).
    fusedAttentionBytesPerLatentPixel: 3 * 1024,
  },
  vaeDecoder: {
    convBytesPerLatentPixel: f32Tensor(16, 64),
    selfAttention: [{ downsample: 1, heads: 1 }],
    fusedAttentionBytesPerLatentPixel: 0,
  },
  vaeEncoder: {
    convBytesPerLatentPixel: f32Tensor(16, 64),
    selfAttention: [{ downsample: 1, heads: 1 }],
    fusedAttentionBytesPerLatentPixel: 0,
    // Measured: 54 MB above the attention phase at 512×512, 120 MB at 1024×1024 (docs/memory.md).
    residentBytesPerLatentPixel: 13 * 1024,
  },
} as const;

/**
 * The profile for a model whose text embeddings are `contextDim` wide: SD1.5's 768, the tiny
 * test nets' narrower ones; anything else is costed as SD1.5 (the larger).
 */
export function activationsFor(contextDim: number) {
  return contextDim <= KILN_TINY_ACTIVATIONS.contextDim * 2 ? KILN_TINY_ACTIVATIONS : SD15_ACTIVATIONS;
}
