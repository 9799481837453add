/**
 * Kiln's SD3 equals diffusers' StableDiffusion3Pipeline / StableDiffusion3Img2ImgPipeline (torch,
 * CPU generator) on the tiny SD3 written by diffusers' modules and exported with optimum's names:
 * the reference cases of fixtures/sd3-pipeline (diffusers 0.38, PyTorch 1.13) through the
 * inference thread, the prompt embeddings, the path without T5, and batch invariance.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeToRgb,
  DiffusionThread,
  encodeSd3Prompts,
  loadSd3Model,
  RenderAbortedError,
  RenderInputError,
  type RenderProgress,
  type Sd3Model,
  type Sd3RenderParams,
} from '@kiln/diffusion';
import { maxAbsDiff, readNpy } from './npy.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const MODEL_DIR = path.join(FIXTURES, 'diffusers-tiny-sd3');
const REFERENCE = path.join(FIXTURES, 'sd3-pipeline');
const cases = JSON.parse(readFileSync(path.join(REFERENCE, 'cases.json'), 'utf8')).cases as any[];
const ref = (file: string) => readNpy(path.join(REFERENCE, file));
const txt2img = cases.find((c) => c.kind === 'txt2img');

/** The tiny model's widths: CLIP-L 16 + CLIP-G 24 (padded to T5's 48), 77 CLIP + 256 T5 tokens. */
const [DIM_L, DIM_G, DIM, CLIP_TOKENS, T5_TOKENS] = [16, 24, 48, 77, 256];

function paramsOf(c: any): Sd3RenderParams {
  const p: Sd3RenderParams = {
    prompt: c.prompt,
    negativePrompt: c.negative_prompt,
    steps: c.num_inference_steps,
    cfgScale: c.guidance_scale,
    width: c.width,
    height: c.height,
    seeds: c.seeds,
    microBatchSize: 4,
  };
  if (c.kind === 'img2img') {
    p.initImage = new Uint8Array(readFileSync(path.join(REFERENCE, c.init_image)));
    p.strength = c.strength;
  }
  return p;
}

let thread: DiffusionThread;
beforeAll(async () => {
  thread = new DiffusionThread();
  await thread.warm(MODEL_DIR, 'sd3');
});
afterAll(() => thread?.close());

describe.each(cases)('diffusers parity through the inference thread: $id', (c) => {
  it('latents to float rounding, PNG within 1/255, a transformer call per timestep, progress per step', async () => {
    const progress: RenderProgress[] = [];
    const result = await thread.render(
      { family: 'sd3', modelDir: MODEL_DIR, params: paramsOf(c) },
      { onProgress: (p) => progress.push(p) },
    );
    expect(result.timings.unetCalls).toBe(c.n_transformer_calls);
    expect(progress.map((p) => p.step)).toEqual([
      ...c.timesteps_run.map((_: number, i: number) => i + 1),
      c.timesteps_run.length,
    ]);
    expect(progress.at(-1)).toMatchObject({ imagesDone: 1, numImages: 1 });
    expect(maxAbsDiff(result.latents[0], ref(c.files.latents_npy).data)).toBeLessThan(1e-4);
    const png = await decodeToRgb(readFileSync(path.join(REFERENCE, c.files.png[0])));
    expect(result.images[0]).toMatchObject({ seed: c.seeds[0], width: c.width, height: c.height });
    expect(maxAbsDiff(result.images[0].pixels, png.pixels)).toBeLessThanOrEqual(1);
  });
});

describe('prompt encoding as StableDiffusion3Pipeline.encode_prompt', () => {
  let model: Sd3Model;
  let withoutT5: Sd3Model;
  beforeAll(async () => {
    model = await loadSd3Model(MODEL_DIR);
    withoutT5 = await loadSd3Model(MODEL_DIR, {}, { loadT5: false });
  });
  afterAll(async () => {
    await model?.dispose();
    await withoutT5?.dispose();
  });
  const params = { ...paramsOf(txt2img), seeds: [1] };

  it('[77 + 256, 48]: CLIP-L ‖ CLIP-G penultimate, padded to 48, then T5; pooled [40]; negative first', async () => {
    const { positive, negative } = await encodeSd3Prompts(model, params);
    const embeds = ref(txt2img.files.prompt_embeds_npy);
    const pooled = ref(txt2img.files.pooled_prompt_embeds_npy);
    expect(embeds.shape).toEqual([2, CLIP_TOKENS + T5_TOKENS, DIM]);
    expect([positive.tokens, positive.dim, positive.pooled.length]).toEqual([
      CLIP_TOKENS + T5_TOKENS,
      DIM,
      DIM_L + DIM_G,
    ]);
    const half = embeds.data.length / 2;
    expect(maxAbsDiff(negative.embeds, embeds.data.subarray(0, half))).toBeLessThan(1e-5);
    expect(maxAbsDiff(positive.embeds, embeds.data.subarray(half))).toBeLessThan(1e-5);
    expect(maxAbsDiff(negative.pooled, pooled.data.subarray(0, DIM_L + DIM_G))).toBeLessThan(1e-5);
    expect(maxAbsDiff(positive.pooled, pooled.data.subarray(DIM_L + DIM_G))).toBeLessThan(1e-5);
    // The CLIP rows end in zeros (the padding to T5's width); the T5 rows do not.
    const clipRow = positive.embeds.subarray(3 * DIM, 4 * DIM);
    expect(clipRow.subarray(DIM_L + DIM_G).every((v) => v === 0)).toBe(true);
    expect(clipRow.subarray(0, DIM_L + DIM_G).some((v) => v !== 0)).toBe(true);
    expect(positive.embeds.subarray(CLIP_TOKENS * DIM, (CLIP_TOKENS + 1) * DIM).some((v) => v !== 0)).toBe(true);
  });

  it('without T5 the T5 block is zeros [256, 48] and the CLIP part is unchanged', async () => {
    expect(withoutT5.t5).toBeUndefined();
    const { positive } = await encodeSd3Prompts(withoutT5, params);
    const withT5 = (await encodeSd3Prompts(model, params)).positive;
    expect([positive.tokens, positive.dim]).toEqual([CLIP_TOKENS + T5_TOKENS, DIM]);
    expect(Array.from(positive.embeds.subarray(0, CLIP_TOKENS * DIM))).toEqual(
      Array.from(withT5.embeds.subarray(0, CLIP_TOKENS * DIM)),
    );
    expect(positive.embeds.subarray(CLIP_TOKENS * DIM).every((v) => v === 0)).toBe(true);
    expect(Array.from(positive.pooled)).toEqual(Array.from(withT5.pooled));
  });

  it('max_sequence_length sets the T5 length (77 + L tokens)', async () => {
    const { positive } = await encodeSd3Prompts(model, { ...params, maxSequenceLength: 32 });
    expect(positive.tokens).toBe(CLIP_TOKENS + 32);
    expect(
      maxAbsDiff(
        positive.embeds.subarray(0, CLIP_TOKENS * DIM),
        ref(txt2img.files.prompt_embeds_npy).data.subarray(
          (CLIP_TOKENS + T5_TOKENS) * DIM,
          (CLIP_TOKENS + T5_TOKENS) * DIM + CLIP_TOKENS * DIM,
        ),
      ),
    ).toBeLessThan(1e-5);
  });
});

describe('SD3 through the inference thread', () => {
  const base = { ...paramsOf(txt2img), steps: 3 };

  it('an image rendered alone equals the same seed rendered inside a batch', async () => {
    const batch = await thread.render({
      family: 'sd3',
      modelDir: MODEL_DIR,
      params: { ...base, seeds: [42, 7, 1234], microBatchSize: 3 },
    });
    const alone = await thread.render({
      family: 'sd3',
      modelDir: MODEL_DIR,
      params: { ...base, seeds: [7], microBatchSize: 1 },
    });
    expect(batch.images.map((i) => i.seed)).toEqual([42, 7, 1234]);
    expect(maxAbsDiff(alone.latents[0], batch.latents[1])).toBeLessThan(1e-5);
    expect(maxAbsDiff(alone.images[0].pixels, batch.images[1].pixels)).toBeLessThanOrEqual(1);
    expect(maxAbsDiff(batch.images[0].pixels, batch.images[1].pixels)).toBeGreaterThan(10);
  });

  it("with sd3LoadT5: false it renders on zeros in T5's place: a valid, different image", async () => {
    const noT5 = new DiffusionThread({ sd3LoadT5: false });
    try {
      const [a, b] = await Promise.all([
        noT5.render({ family: 'sd3', modelDir: MODEL_DIR, params: base }),
        thread.render({ family: 'sd3', modelDir: MODEL_DIR, params: base }),
      ]);
      expect(a.images[0].pixels.length).toBe(64 * 64 * 3);
      expect(maxAbsDiff(a.latents[0], b.latents[0])).toBeGreaterThan(1e-3);
    } finally {
      await noT5.close();
    }
  });

  it('renders without guidance at cfg_scale 1 (no negative prompt encoded, one transformer row per image)', async () => {
    const params = { ...base, seeds: [42, 7], cfgScale: 1 };
    const unguided = await thread.render({ family: 'sd3', modelDir: MODEL_DIR, params });
    const guided = await thread.render({ family: 'sd3', modelDir: MODEL_DIR, params: { ...params, cfgScale: 5 } });
    expect(unguided.timings.unetCalls).toBe(3);
    expect(maxAbsDiff(unguided.latents[1], guided.latents[1])).toBeGreaterThan(1e-3);
  });

  it('stops between steps when aborted', async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const render = thread.render(
      { family: 'sd3', modelDir: MODEL_DIR, params: { ...base, steps: 20 } },
      {
        signal: controller.signal,
        onProgress: (p) => {
          steps.push(p.step);
          if (p.step === 2) controller.abort();
        },
      },
    );
    await expect(render).rejects.toBeInstanceOf(RenderAbortedError);
    expect(steps.length).toBeLessThan(20);
  });

  it.each([
    ['sampler', { sampler: 'DDIM' }],
    [
      'strength',
      { initImage: new Uint8Array(readFileSync(path.join(REFERENCE, 'img2img_init_64x64.png'))), strength: 0 },
    ],
    ['width', { width: 72 }],
    ['clip_skip', { clipSkip: 5 }],
    ['max_sequence_length', { maxSequenceLength: 513 }],
    ['init_image', { initImage: new Uint8Array([1, 2, 3]) }],
  ])('refuses a bad %s with RenderInputError naming it', async (field, patch) => {
    const render = thread.render({
      family: 'sd3',
      modelDir: MODEL_DIR,
      params: { ...base, ...patch } as Sd3RenderParams,
    });
    await expect(render).rejects.toBeInstanceOf(RenderInputError);
    await expect(render).rejects.toMatchObject({ field });
  });
});
