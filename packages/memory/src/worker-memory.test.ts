import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KILN_TINY_ACTIVATIONS, SD15_ACTIVATIONS } from './sd15-profiles.js';
import {
  BROWNIAN_TREE_SAMPLERS,
  MAX_PROMPT_CHUNKS,
  RUNTIME_BYTES,
  promptChunksAtMost,
  chooseMicroBatch,
  estimateWorkerPeak,
  stageBytes,
  type RequestMemoryShape,
} from './worker-memory.js';

const tiny = { ...KILN_TINY_ACTIVATIONS, weightsBytes: 12e6 };
const request = (over: Partial<RequestMemoryShape> = {}): RequestMemoryShape => ({
  width: 512,
  height: 512,
  numImages: 1,
  microBatch: 1,
  guided: true,
  promptChunks: 1,
  encodesImage: false,
  vaeTileLatent: 128,
  ...over,
});

describe('worker memory estimate', () => {
  it('imports nothing, so the API can use it without the diffusion core (its profiles neither)', () => {
    for (const file of ['worker-memory.ts', 'sd15-profiles.ts']) {
      const text = readFileSync(new URL(file, import.meta.url), 'utf8');
      expect(text).not.toMatch(/^\s*import\b|\brequire\(|\bimport\(/m);
    }
  });

  it('costs attention as 2 float32 copies of heads × queries × keys per batch item', () => {
    // The tiny VAE decoder's mid-block attention over a 1024×1024 image's 128×128 latents,
    // measured at 2.09 GiB above the loaded model (docs/memory.md).
    expect(stageBytes(tiny.vaeDecoder, 1, 128, 128)).toBe(2 * 4 * 16384 ** 2);
    // The tiny UNet: 2 heads at half the latent grid, a guided pair; measured 0.55 GiB.
    expect(stageBytes(tiny.unet, 2, 128, 128)).toBe(2 * 4 * 2 * 2 * 4096 ** 2);
    // Cross-attention grows with the prompt's tokens: 8 chunks of 77 against 64×64 / 4 queries.
    expect(stageBytes({ ...tiny.unet, selfAttention: [] }, 2, 64, 64, 8 * 77)).toBe(2 * 4 * 2 * 2 * 1024 * 616);
  });

  it('adds runtime, weights, host buffers, the UNet and the largest other stage', () => {
    const e = estimateWorkerPeak(tiny, request());
    expect(e.runtimeBytes).toBe(RUNTIME_BYTES);
    expect(e.weightsBytes).toBe(12e6);
    expect(e.hostBytes).toBe(3 * 512 * 512 + 4 * 4 * 64 * 64);
    expect(e.totalBytes).toBe(
      e.runtimeBytes +
        e.weightsBytes +
        e.hostBytes +
        e.unetBytes +
        Math.max(e.textBytes, e.vaeDecodeBytes, e.vaeEncodeBytes),
    );
    expect(e.vaeEncodeBytes).toBe(0);
    expect(estimateWorkerPeak(tiny, request({ encodesImage: true })).vaeEncodeBytes).toBeGreaterThan(e.vaeDecodeBytes);
  });

  it('adds a ControlNet run, its residuals and conditioning images, and its weights when asked', () => {
    const plain = estimateWorkerPeak(tiny, request());
    expect(plain.controlNetBytes).toBe(0);
    const one = estimateWorkerPeak(tiny, request({ controlNets: { count: 1, weightsBytes: 3e6 } }));
    const items = 2; // a guided pair
    expect(one.weightsBytes).toBe(12e6 + 3e6);
    expect(one.controlNetBytes).toBe(
      stageBytes(tiny.unet, items, 64, 64, 77) + 4 * items * 64 * 64 * 1640 + 4 * items * 3 * 512 * 512,
    );
    expect(one.totalBytes).toBe(plain.totalBytes + 3e6 + one.controlNetBytes);
    const two = estimateWorkerPeak(tiny, request({ controlNets: { count: 2, weightsBytes: 0 } }));
    expect(two.controlNetBytes).toBeGreaterThan(one.controlNetBytes);
  });

  it("counts DPM++ SDE's Brownian trees, one per image of a micro-batch, and their helper thread", () => {
    const plain = estimateWorkerPeak(tiny, request());
    expect(plain.noiseBytes).toBe(0);
    expect(estimateWorkerPeak(tiny, request({ sampler: 'K_EULER_ANCESTRAL' })).noiseBytes).toBe(0);
    const one = estimateWorkerPeak(tiny, request({ sampler: 'DPM_PLUS_PLUS_SDE_KARRAS' }));
    const four = estimateWorkerPeak(
      tiny,
      request({ sampler: 'DPM_PLUS_PLUS_SDE_KARRAS', microBatch: 4, numImages: 4 }),
    );
    // Guidance does not double the trees: both halves of a pair share the image's noise.
    expect(four.noiseBytes - one.noiseBytes).toBe(3 * 3600 * 64 * 64);
    expect(one.noiseBytes).toBe(48 * 2 ** 20 + 3600 * 64 * 64);
    expect(one.totalBytes).toBe(plain.totalBytes + one.noiseBytes);
    expect(BROWNIAN_TREE_SAMPLERS).toEqual(['DPM_PLUS_PLUS_SDE_KARRAS']);
  });

  it('bounds the VAE by its tile: a 2048×2048 image costs one 1024×1024 tile plus its float output', () => {
    const tile = estimateWorkerPeak(tiny, request({ width: 1024, height: 1024 })).vaeDecodeBytes;
    const big = estimateWorkerPeak(tiny, request({ width: 2048, height: 2048 })).vaeDecodeBytes;
    expect(big - tile).toBe(4 * 3 * 2048 * 2048);
    const whole = estimateWorkerPeak(tiny, request({ width: 2048, height: 2048, vaeTileLatent: null })).vaeDecodeBytes;
    expect(whole).toBeGreaterThan(10 * big);
  });

  it('chooses the largest micro-batch that fits, and 0 when one image does not', () => {
    const r = request({ width: 1024, height: 1024, numImages: 4, microBatch: 4 });
    const peaks = [1, 2, 3, 4].map((m) => estimateWorkerPeak(tiny, { ...r, microBatch: m }).totalBytes);
    expect(peaks[1]).toBeGreaterThan(peaks[0]);
    expect(chooseMicroBatch(tiny, r, peaks[3])).toBe(4);
    expect(chooseMicroBatch(tiny, r, peaks[2] + 1)).toBe(3);
    expect(chooseMicroBatch(tiny, r, peaks[0])).toBe(1);
    expect(chooseMicroBatch(tiny, r, peaks[0] - 1)).toBe(0);
    expect(chooseMicroBatch(tiny, { ...r, numImages: 2 }, peaks[3])).toBe(2);
  });

  it("puts SD1.5 at 512×512 at most 5% above the peak measured on the testkit's full-size model", () => {
    // `memory.probe.ts` on the testkit's full-size SD1.5 (real dimensions, 4 265 858 877 bytes of
    // fp32 ONNX files), 512×512, 1 image, 2 guided steps: peak RSS 7 563 948 032 bytes.
    const measured = 7_563_948_032;
    const e = estimateWorkerPeak({ ...SD15_ACTIVATIONS, weightsBytes: 4_265_858_877 }, request());
    expect(e.unetBytes).toBeGreaterThan(2 * 4 * 8 * 2 * 4096 ** 2);
    expect(e.totalBytes).toBeGreaterThanOrEqual(measured);
    expect(e.totalBytes).toBeLessThan(measured * 1.05);
  });
});

describe('worker memory estimate, attention fused', () => {
  const fused = <T extends object>(stage: T) => ({ ...stage, attentionFused: true });

  it('costs a fused stage linearly in pixels and items, never below its convolution phase', () => {
    const unet = fused(SD15_ACTIVATIONS.unet);
    expect(stageBytes(unet, 2, 64, 64, 77)).toBe(36 * 1024 * 2 * 64 * 64);
    expect(stageBytes(unet, 4, 128, 128, 616)).toBe(4 * 4 * stageBytes(unet, 1, 64, 64, 77));
    // A VAE whose attention is fused is bounded by its convolutions.
    expect(stageBytes(fused(tiny.vaeDecoder), 1, 128, 128)).toBe(tiny.vaeDecoder.convBytesPerLatentPixel * 16384);
    expect(stageBytes(fused(tiny.vaeDecoder), 1, 128, 128)).toBeLessThan(stageBytes(tiny.vaeDecoder, 1, 128, 128) / 5);
  });

  // `MALLOC_MMAP_THRESHOLD_=1048576 node bench/dist/probes/memory.probe.js` on the testkit's
  // full-size SD1.5 (4 267 359 291 bytes of fp32 ONNX files; Kiln fuses all 32 of its UNet
  // attentions, not its VAE's), 1 guided DDIM step, 2026-12-03 (docs/memory.md).
  const fullSize = {
    ...SD15_ACTIVATIONS,
    unet: fused(SD15_ACTIVATIONS.unet),
    weightsBytes: 4_267_359_291,
  };
  const measured = [
    { size: 512, images: 1, peak: 5_534_126_080 },
    { size: 512, images: 2, peak: 5_844_135_936 },
    { size: 768, images: 1, peak: 6_902_456_320 },
    { size: 1024, images: 1, peak: 8_871_620_608 },
  ];

  it.each(measured)(
    'puts full-size SD1.5 at $size² ×$images at most 10% above its measured peak',
    ({ size, images, peak }) => {
      const shape = request({ width: size, height: size, numImages: images, microBatch: images, vaeTileLatent: 128 });
      const e = estimateWorkerPeak(fullSize, shape);
      expect(e.totalBytes).toBeGreaterThanOrEqual(peak);
      expect(e.totalBytes).toBeLessThan(peak * 1.1);
    },
  );

  it('lets a 1024×1024 SD1.5 image fit a worker of 12 GiB, where the unfused estimate asked for 44', () => {
    const shape = request({ width: 1024, height: 1024, vaeTileLatent: 128 });
    expect(
      estimateWorkerPeak({ ...fullSize, unet: SD15_ACTIVATIONS.unet }, shape).totalBytes / 2 ** 30,
    ).toBeGreaterThan(40);
    expect(chooseMicroBatch(fullSize, shape, 12 * 2 ** 30)).toBe(1);
  });
});

describe('promptChunksAtMost', () => {
  it('bounds the chunks of a prompt without a tokenizer: UTF-8 bytes per 75, one more per BREAK, at most MAX_PROMPT_CHUNKS', () => {
    expect(promptChunksAtMost('a cat')).toBe(1);
    expect(promptChunksAtMost('x'.repeat(150))).toBe(2);
    expect(promptChunksAtMost('x'.repeat(151))).toBe(3);
    expect(promptChunksAtMost('猫'.repeat(50))).toBe(2); // 150 bytes
    expect(promptChunksAtMost('a BREAK b BREAK c')).toBe(3);
    expect(promptChunksAtMost('BREAK '.repeat(2000))).toBe(MAX_PROMPT_CHUNKS);
  });
});
