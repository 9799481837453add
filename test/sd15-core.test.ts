/**
 * The SD1.5 core beyond the diffusers parity cases: batch independence, micro-batching, clip_skip,
 * long and weighted prompts, fp16 and optimum-style model folders, cancellation between steps.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DiffusionThread,
  RenderAbortedError,
  RenderInputError,
  loadSd15Model,
  textToImage,
  type Sd15Model,
  type TextToImageParams,
} from '@kiln/diffusion';
import { ensureTestModel } from './harness.js';
import { maxAbsDiff } from './npy.js';
import { writeOptimumStyleModel } from './optimum-style-model.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');

const base: TextToImageParams = {
  prompt: 'a photo of a cat',
  negativePrompt: '',
  sampler: 'K_EULER_ANCESTRAL',
  steps: 4,
  cfgScale: 7.5,
  width: 64,
  height: 64,
  seeds: [42],
  clipSkip: 1,
  microBatchSize: 4,
};

let model: Sd15Model;
beforeAll(async () => {
  model = await loadSd15Model(await ensureTestModel('tiny-sd15'));
});
afterAll(() => model?.dispose());

describe('batching', () => {
  it('gives every seed the same image alone or among 16, whatever the micro-batch size', async () => {
    const seeds = Array.from({ length: 16 }, (_, i) => 1000 + i * 7);
    const together = await textToImage(model, { ...base, seeds, microBatchSize: 16 });
    const inFours = await textToImage(model, { ...base, seeds, microBatchSize: 4 });
    expect(together.timings.unetCalls).toBe(4);
    expect(inFours.timings.unetCalls).toBe(16);
    for (const index of [0, 5, 15]) {
      const alone = await textToImage(model, { ...base, seeds: [seeds[index]] });
      expect(maxAbsDiff(together.images[index].pixels, alone.images[0].pixels)).toBeLessThanOrEqual(1);
      expect(maxAbsDiff(inFours.images[index].pixels, alone.images[0].pixels)).toBeLessThanOrEqual(1);
    }
    expect(maxAbsDiff(together.images[0].pixels, together.images[1].pixels)).toBeGreaterThan(10);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const a = await textToImage(model, { ...base, seeds: [3] });
    const b = await textToImage(model, { ...base, seeds: [3] });
    const c = await textToImage(model, { ...base, seeds: [4] });
    expect(Buffer.from(a.images[0].pixels).equals(Buffer.from(b.images[0].pixels))).toBe(true);
    expect(Buffer.from(a.images[0].pixels).equals(Buffer.from(c.images[0].pixels))).toBe(false);
  });
});

describe('prompts', () => {
  it('renders prompts longer than 75 tokens (chunked) and weighting changes the result', async () => {
    const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(', ');
    const plain = await textToImage(model, { ...base, prompt: long });
    expect(plain.images).toHaveLength(1);
    const weighted = await textToImage(model, { ...base, prompt: `(${long}:1.4)` });
    expect(maxAbsDiff(plain.latents[0], weighted.latents[0])).toBeGreaterThan(1e-3);
  });

  it('treats weight-1 syntax as the plain prompt', async () => {
    const plain = await textToImage(model, { ...base, prompt: 'a red barn' });
    const same = await textToImage(model, { ...base, prompt: '(a red barn:1.0)' });
    expect(maxAbsDiff(plain.latents[0], same.latents[0])).toBe(0);
  });
});

describe('clip_skip', () => {
  it('uses an earlier text-encoder layer when the model exposes hidden states', async () => {
    const one = await textToImage(model, { ...base, clipSkip: 1 });
    const two = await textToImage(model, { ...base, clipSkip: 2 });
    expect(maxAbsDiff(one.latents[0], two.latents[0])).toBeGreaterThan(1e-3);
  });

  it('refuses clip_skip > 1 with a clear input error when the export has no hidden states', async () => {
    const diffusers = await loadSd15Model(path.join(FIXTURES, 'diffusers-tiny-sd15'));
    try {
      const error = await textToImage(diffusers, { ...base, clipSkip: 2 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RenderInputError);
      expect(error).toMatchObject({ code: 'input_rejected', field: 'clip_skip' });
    } finally {
      await diffusers.dispose();
    }
  });
});

describe('model folders', () => {
  it('loads and renders an fp16 model close to its fp32 twin', async () => {
    const fp16 = await loadSd15Model(await ensureTestModel('tiny-sd15-fp16', { fp16: true }));
    try {
      expect(fp16.unet.inputType('sample')).toBe('float16');
      const half = await textToImage(fp16, { ...base, sampler: 'DDIM' });
      const full = await textToImage(model, { ...base, sampler: 'DDIM' });
      expect(half.images[0].pixels.length).toBe(full.images[0].pixels.length);
      expect(maxAbsDiff(half.latents[0], full.latents[0])).toBeLessThan(0.1);
    } finally {
      await fp16.dispose();
    }
  });

  it('loads an optimum-style export (int64 input_ids, model.onnx_data) and renders the same image', async () => {
    const dir = await writeOptimumStyleModel(
      await ensureTestModel('tiny-sd15'),
      path.join(path.dirname(await ensureTestModel('tiny-sd15')), 'optimum-style'),
    );
    const optimum = await loadSd15Model(dir);
    try {
      expect(optimum.textEncoder.inputType('input_ids')).toBe('int64');
      const a = await textToImage(optimum, base);
      const b = await textToImage(model, base);
      expect(maxAbsDiff(a.latents[0], b.latents[0])).toBeLessThan(1e-5);
    } finally {
      await optimum.dispose();
    }
  });
});

describe('the inference thread', () => {
  it('reports progress per step and stops between two steps when aborted, then keeps serving', async () => {
    const thread = new DiffusionThread();
    try {
      const modelDir = await ensureTestModel('tiny-sd15');
      const controller = new AbortController();
      const steps: number[] = [];
      const aborted = thread
        .render(
          { family: 'sd15', modelDir, params: { ...base, steps: 50, width: 256, height: 256 } },
          {
            signal: controller.signal,
            onProgress: (p) => {
              steps.push(p.step);
              if (p.step === 2) controller.abort();
            },
          },
        )
        .catch((e: unknown) => e);
      expect(await aborted).toBeInstanceOf(RenderAbortedError);
      expect(steps.at(-1)).toBeLessThan(50);
      const result = await thread.render({ family: 'sd15', modelDir, params: base });
      expect(result.images[0].seed).toBe(42);
    } finally {
      await thread.close();
    }
  });
});
