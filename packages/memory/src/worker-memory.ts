/**
 * A worker's peak memory as a known function of the model and the request: plain numbers in, bytes
 * out. This module imports nothing (not even types), so the API can use it to refuse a request that
 * cannot fit a worker's budget without loading the diffusion core or onnxruntime.
 *
 * The model (docs/memory.md has the derivation and the measurements behind every constant):
 *
 *   peak = runtime + weights + host buffers + UNet(micro-batch) + max(text encoder, VAE decode, VAE encode)
 *
 * - Only the UNet session keeps an onnxruntime arena (the hot loop; see models/onnx-session.ts), so
 *   the UNet's activations stay resident while the VAE runs; the other sessions return theirs after
 *   each run, so only the largest of them counts.
 * - Every ONNX stage is the larger of its convolution phase (linear in pixels) and its attention
 *   phase: quadratic in tokens where the graph's attention runs as exported (onnxruntime's CPU
 *   attention materialises the scores and their softmax, `heads × queries × keys` floats each, for
 *   every batch item), linear where Kiln fused all of it into `MultiHeadAttention` (its CPU kernel
 *   works in blocks and holds no scores; the worker knows which from its sessions).
 * - The VAE decodes (and encodes) one image at a time, in tiles of at most `vaeTileLatent` latent
 *   pixels a side when the image is larger (pipelines/sd15/vae-tiles.ts), so its term depends on
 *   the tile, not on the image.
 */

/** float32 bytes. */
const F32 = 4;
/** The attention scores and their softmax are alive at the same time (measured: docs/memory.md). */
const ATTENTION_COPIES = 2;
/** CLIP's context length: one prompt chunk is 77 tokens. */
export const TOKENS_PER_CHUNK = 77;
/**
 * The most 75-token chunks a prompt may take. A1111 sets no limit, but every chunk widens the
 * UNet's cross-attention for every step (a 10 000-character prompt of `BREAK`s took 5.8 GB at
 * 512×512 with the tiny model): 8 chunks are 600 tokens, more than any prompt people write.
 */
export const MAX_PROMPT_CHUNKS = 8;

/**
 * An upper bound on a prompt's chunks without tokenizing it (the API has no tokenizer): CLIP's
 * byte-level BPE makes at most one token per UTF-8 byte, and each `BREAK` starts a new chunk.
 */
export function promptChunksAtMost(prompt: string): number {
  const bytes = new TextEncoder().encode(prompt).length;
  const breaks = prompt.split('BREAK').length - 1;
  return Math.min(MAX_PROMPT_CHUNKS, Math.max(1, Math.ceil(bytes / 75) + breaks));
}
/** Node, onnxruntime and the tokenizer, without the weights: 155-165 MiB measured, with headroom. */
export const RUNTIME_BYTES = 180 * 2 ** 20;
/**
 * The UNet's arena holds 13-14% more than its attention phase (measured at 1024×1024 and
 * 1536×1024, docs/memory.md): the arena rounds its chunks up and other tensors live beside the scores.
 */
const UNET_ARENA_OVERHEAD = 1.15;

/**
 * The samplers whose noise comes from Brownian trees (one per image of a micro-batch) drawn on a
 * helper thread: the diffusion core's noise-ahead.ts and brownian-tree.ts; a test there keeps
 * this list and the schedulers in step.
 */
export const BROWNIAN_TREE_SAMPLERS: readonly string[] = ['DPM_PLUS_PLUS_SDE_KARRAS'];
/**
 * Per latent pixel and image: a tree's path and cache of float64 values (2.4-2.6 KB kept after
 * each step) and the garbage its draws leave until the helper's collector runs. Fitted with
 * {@link NOISE_HELPER_BYTES} to peak RSS over four loops in a row (docs/memory.md).
 */
const BROWNIAN_TREE_BYTES_PER_LATENT_PIXEL = 3600;
/** The helper thread itself (isolate, its code and WebAssembly, young generation): ~41 MiB in that fit. */
const NOISE_HELPER_BYTES = 48 * 2 ** 20;

/** One attention layer family: at `downsample`× below the latent grid, with `heads` heads. */
export interface AttentionSite {
  downsample: number;
  heads: number;
}

/** The memory-relevant shape of one ONNX stage. */
export interface StageProfile {
  /** Bytes alive at the widest convolution, per latent pixel and batch item. */
  convBytesPerLatentPixel: number;
  selfAttention: readonly AttentionSite[];
  /** Cross-attention over the prompt's tokens (the UNet only). */
  crossAttention?: readonly AttentionSite[];
  /** Bytes alive through both phases, per latent pixel and batch item (measured where it matters). */
  residentBytesPerLatentPixel?: number;
  /**
   * The attention phase when all of the stage's attention runs fused, per latent pixel and batch
   * item (measured); 0 where the convolution phase bounds it.
   */
  fusedAttentionBytesPerLatentPixel: number;
  /** Every attention of this stage's session runs fused (set by the worker from its loaded sessions). */
  attentionFused?: boolean;
}

/** What the estimate needs to know of a model. */
export interface ModelMemoryProfile {
  /** Bytes of every ONNX file (weights included), resident once loaded. */
  weightsBytes: number;
  /** Text encoder bytes per 77-token chunk (activations and attention). */
  textBytesPerChunk: number;
  /** Width of the text embeddings (the UNet's cross_attention_dim). */
  contextDim: number;
  unet: StageProfile;
  vaeDecoder: StageProfile;
  vaeEncoder: StageProfile;
}

/** What the estimate needs to know of a request. */
export interface RequestMemoryShape {
  width: number;
  height: number;
  numImages: number;
  /** Images per UNet call. */
  microBatch: number;
  /** Classifier-free guidance (cfg_scale > 1) doubles the UNet batch. */
  guided: boolean;
  /** 77-token chunks of the longer of prompt and negative prompt. */
  promptChunks: number;
  /** Image-to-image and inpainting run the VAE encoder. */
  encodesImage: boolean;
  /** Largest VAE tile side in latent pixels; null decodes and encodes whole images. */
  vaeTileLatent: number | null;
  /** UNet input channels: 4, or 9 for an inpainting UNet. */
  unetInChannels?: number;
  /** The sampler's name: one of {@link BROWNIAN_TREE_SAMPLERS} adds its Brownian trees. */
  sampler?: string;
  /**
   * ControlNets run at each step (docs/controlnet.md): how many, and the bytes of their weights
   * when the profile's `weightsBytes` does not already count them (the API's estimate; a worker's
   * profile of a model loaded with its ControlNets does).
   */
  controlNets?: { count: number; weightsBytes: number };
}

export interface MemoryEstimate {
  /** Peak resident bytes of a worker rendering this request. */
  totalBytes: number;
  runtimeBytes: number;
  weightsBytes: number;
  hostBytes: number;
  unetBytes: number;
  textBytes: number;
  vaeDecodeBytes: number;
  vaeEncodeBytes: number;
  /** A ControlNet run beside the UNet's resident arena, plus the residuals it hands the UNet. */
  controlNetBytes: number;
  /** DPM++ SDE's Brownian trees and the helper thread that draws them. */
  noiseBytes: number;
}

/**
 * Residual floats per latent pixel and batch item that a ControlNet hands the UNet: SD1.5's 12 down
 * residuals (3 × 320 at full size, 320 + 2 × 640 at 1/2, 640 + 2 × 1280 at 1/4, 3 × 1280 at 1/8)
 * and the 1280-channel mid residual at 1/8: 960 + 400 + 200 + 60 + 20 = 1640.
 */
const CONTROLNET_RESIDUAL_FLOATS_PER_LATENT_PIXEL = 1640;

const cells = (side: number, downsample: number) => Math.ceil(side / downsample);

function attentionBytes(sites: readonly AttentionSite[], items: number, h: number, w: number, keys?: number): number {
  let worst = 0;
  for (const site of sites) {
    const queries = cells(h, site.downsample) * cells(w, site.downsample);
    worst = Math.max(worst, ATTENTION_COPIES * F32 * site.heads * items * queries * (keys ?? queries));
  }
  return worst;
}

/** One ONNX run over `items` batch items of an h×w latent grid: the larger of its two phases. */
export function stageBytes(stage: StageProfile, items: number, h: number, w: number, contextTokens = 0): number {
  const conv = stage.convBytesPerLatentPixel * items * h * w;
  const resident = (stage.residentBytesPerLatentPixel ?? 0) * items * h * w;
  if (stage.attentionFused) return Math.max(conv, stage.fusedAttentionBytesPerLatentPixel * items * h * w) + resident;
  const self = attentionBytes(stage.selfAttention, items, h, w);
  const cross = stage.crossAttention ? attentionBytes(stage.crossAttention, items, h, w, contextTokens) : 0;
  return Math.max(conv, self, cross) + resident;
}

/** The VAE's largest run: one image, the whole latent grid or its largest tile. */
function vaeBytes(stage: StageProfile, h: number, w: number, tile: number | null): number {
  const th = tile === null ? h : Math.min(h, tile);
  const tw = tile === null ? w : Math.min(w, tile);
  // The run's input and output (3 × 64 floats per latent pixel) and, when tiled, the whole
  // image's float samples the tiles are blended into.
  const io = F32 * (4 + 3 * 64) * th * tw + (tile !== null && (h > tile || w > tile) ? F32 * 3 * 64 * h * w : 0);
  return stageBytes(stage, 1, th, tw) + io;
}

export function estimateWorkerPeak(profile: ModelMemoryProfile, r: RequestMemoryShape): MemoryEstimate {
  const h = Math.ceil(r.height / 8);
  const w = Math.ceil(r.width / 8);
  const images = Math.max(1, r.numImages);
  const micro = Math.max(1, Math.min(r.microBatch, images));
  const items = micro * (r.guided ? 2 : 1);
  const contextTokens = r.promptChunks * TOKENS_PER_CHUNK;
  const inChannels = r.unetInChannels ?? 4;
  // UNet inputs and output (sample, context, noise prediction) and the scheduler's copies of the latents.
  const unetIo =
    F32 * items * ((inChannels + 4) * h * w + contextTokens * profile.contextDim) + F32 * 4 * micro * h * w * 4;
  const unetBytes = Math.ceil(UNET_ARENA_OVERHEAD * stageBytes(profile.unet, items, h, w, contextTokens)) + unetIo;
  // Both prompts' embeddings are encoded one after the other: one prompt's chunks at a time.
  const textBytes = r.promptChunks * profile.textBytesPerChunk;
  const vaeDecodeBytes = vaeBytes(profile.vaeDecoder, h, w, r.vaeTileLatent);
  const vaeEncodeBytes = r.encodesImage ? vaeBytes(profile.vaeEncoder, h, w, r.vaeTileLatent) : 0;
  // Every image's RGB pixels and final latents are held until the request ends.
  const hostBytes = images * (3 * r.width * r.height + F32 * 4 * h * w);
  const runtimeBytes = RUNTIME_BYTES;
  const weightsBytes = profile.weightsBytes + (r.controlNets?.weightsBytes ?? 0);
  // A ControlNet has the UNet's down path and mid block: its run is bounded by the UNet's widest
  // phase. Its session keeps no arena, so one run is alive at a time, while the summed residuals
  // (and each net's own before summing) live until the UNet has run.
  const controlNetCount = r.controlNets?.count ?? 0;
  const controlNetBytes =
    controlNetCount === 0
      ? 0
      : stageBytes(profile.unet, items, h, w, contextTokens) +
        F32 * items * h * w * CONTROLNET_RESIDUAL_FLOATS_PER_LATENT_PIXEL * Math.min(controlNetCount, 2) +
        F32 * items * 3 * r.width * r.height * controlNetCount; // the conditioning tensors
  const noiseBytes = BROWNIAN_TREE_SAMPLERS.includes(r.sampler ?? '')
    ? NOISE_HELPER_BYTES + BROWNIAN_TREE_BYTES_PER_LATENT_PIXEL * micro * h * w
    : 0;
  const totalBytes =
    runtimeBytes +
    weightsBytes +
    hostBytes +
    unetBytes +
    controlNetBytes +
    noiseBytes +
    Math.max(textBytes, vaeDecodeBytes, vaeEncodeBytes);
  return {
    totalBytes,
    runtimeBytes,
    weightsBytes,
    hostBytes,
    unetBytes,
    textBytes,
    vaeDecodeBytes,
    vaeEncodeBytes,
    controlNetBytes,
    noiseBytes,
  };
}

/**
 * The largest micro-batch (≤ the requested one) whose peak fits `budgetBytes`; 0 when not even one
 * image per UNet call fits (the request must be refused).
 */
export function chooseMicroBatch(profile: ModelMemoryProfile, r: RequestMemoryShape, budgetBytes: number): number {
  for (let micro = Math.min(r.microBatch, r.numImages); micro >= 1; micro--) {
    if (estimateWorkerPeak(profile, { ...r, microBatch: micro }).totalBytes <= budgetBytes) return micro;
  }
  return 0;
}
