/**
 * The performance work on the denoising loop and the postprocessing (issue 6: buffers reused across
 * steps, guidance in place, scaling before repeating, the uint8 conversion through a
 * Uint8ClampedArray) changes no bit: the optimised code against the straightforward code it
 * replaced, kept here verbatim as the reference, on the same model in the same process, for every
 * sampler, with and without guidance, several images per UNet call and an inpainting UNet's extra
 * channels. Issue 16's helper thread for DPM++ SDE's noise neither: the optimised loop draws it
 * there, the reference in the step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NoiseAhead,
  RenderAbortedError,
  SAMPLER_NAMES,
  createGenerator,
  createScheduler,
  loadSd15Model,
  type Sd15Model,
} from '@kiln/diffusion';
import { decodeLatents } from '../packages/diffusion/src/pipelines/sd15/decode-latents.js';
import { denoise, type UnetConditioning } from '../packages/diffusion/src/pipelines/sd15/denoise-loop.js';
import { ensureTestModel } from './harness.js';

let model: Sd15Model;
let inpaintModel: Sd15Model;
beforeAll(async () => {
  model = await loadSd15Model(await ensureTestModel('tiny-sd15'));
  inpaintModel = await loadSd15Model(await ensureTestModel('tiny-sd15-inpaint', { unetInChannels: 9 }));
});
afterAll(async () => {
  await model?.dispose();
  await inpaintModel?.dispose();
});

// ---- the reference: the loop and postprocessing as they were before the optimisation ----------

function applyGuidance(noisePred: Float32Array, scale: number): Float32Array {
  const half = noisePred.length / 2;
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const uncond = noisePred[i];
    out[i] = uncond + scale * (noisePred[half + i] - uncond);
  }
  return out;
}

function duplicateBatch(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length * 2);
  out.set(x, 0);
  out.set(x, x.length);
  return out;
}

function withConditioning(
  input: Float32Array,
  conditioning: UnetConditioning,
  unetBatch: number,
  plane: number,
): Float32Array {
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

async function referenceDenoise(inputs: Parameters<typeof denoise>[0]): Promise<Float32Array> {
  const { model: m, scheduler, timesteps, shape, context, cfgScale, generators, conditioning } = inputs;
  const guided = cfgScale > 1;
  const [batch, channels, latentHeight, latentWidth] = shape;
  const unetBatch = guided ? batch * 2 : batch;
  const inChannels = channels + (conditioning?.channels ?? 0);
  let latents = inputs.latents;
  for (let i = 0; i < timesteps.length; i++) {
    if (inputs.signal?.aborted) throw new RenderAbortedError();
    const t = timesteps[i];
    let modelInput = scheduler.scaleModelInput(guided ? duplicateBatch(latents) : latents, t);
    if (conditioning) modelInput = withConditioning(modelInput, conditioning, unetBatch, latentHeight * latentWidth);
    const out = await m.unet.run(
      {
        sample: { data: modelInput, dims: [unetBatch, inChannels, latentHeight, latentWidth] },
        timestep: { data: new Float32Array(unetBatch).fill(t), dims: [unetBatch] },
        encoder_hidden_states: context,
      },
      ['out_sample'],
    );
    const raw = out.out_sample.data as Float32Array;
    const noisePred = guided ? applyGuidance(raw, cfgScale) : raw;
    latents = scheduler.step(noisePred, t, latents, { shape, generators, eta: 0 });
  }
  return latents;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

async function referenceDecode(m: Sd15Model, latents: Float32Array, h: number, w: number): Promise<Uint8Array> {
  const scaled = new Float32Array(latents.length);
  const factor = Math.fround(m.vaeScalingFactor);
  for (let i = 0; i < latents.length; i++) scaled[i] = latents[i] / factor;
  const out = await m.vaeDecoder.run({ latent_sample: { data: scaled, dims: [1, 4, h, w] } }, ['sample']);
  const sample = out.sample.data as Float32Array;
  const plane = out.sample.dims[2] * out.sample.dims[3];
  const pixels = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) {
      const v = Math.min(Math.max(Math.fround(Math.fround(sample[c * plane + p] / 2) + 0.5), 0), 1);
      pixels[p * 3 + c] = roundHalfEven(Math.fround(v * 255));
    }
  }
  return pixels;
}

// ---- the comparison ------------------------------------------------------------------------------

const H = 8;
const W = 8;
const BATCH = 2;

/** Bit patterns, so that -0 vs 0 and NaN payloads count as differences too. */
const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

function randomContext(unetBatch: number, dim: number, seed: number): Float32Array {
  return createGenerator(seed).randn([unetBatch, 77, dim]);
}

async function runBoth(m: Sd15Model, sampler: string, cfgScale: number, conditioning?: UnetConditioning) {
  const guided = cfgScale > 1;
  const shape = [BATCH, 4, H, W];
  const context = {
    data: randomContext(guided ? BATCH * 2 : BATCH, m.unet.inputs.get('encoder_hidden_states')?.shape[2] as number, 5),
    dims: [guided ? BATCH * 2 : BATCH, 77, m.unet.inputs.get('encoder_hidden_states')?.shape[2] as number],
  };
  const run = async (impl: typeof denoise | typeof referenceDenoise) => {
    const scheduler = createScheduler(sampler, m.schedulerConfig);
    scheduler.setTimesteps(4);
    const generators = [createGenerator(11), createGenerator(12)];
    const initial = Float32Array.from(createGenerator(3).randn(shape), (v) =>
      Math.fround(v * Math.fround(scheduler.initNoiseSigma)),
    );
    const result = await impl({
      model: m,
      scheduler,
      timesteps: scheduler.timesteps,
      latents: initial,
      shape,
      context,
      cfgScale,
      generators,
      conditioning,
      brownianNoise: noiseAhead.source,
    });
    return result instanceof Float32Array ? result : result.latents;
  };
  // The optimised loop draws DPM++ SDE's noise on a helper thread, as the pipelines do; the
  // reference draws it in the step.
  const noiseAhead = new NoiseAhead();
  try {
    const optimised = await run(denoise);
    return { optimised, reference: await run(referenceDenoise), drawnAhead: noiseAhead.tally.ahead };
  } finally {
    noiseAhead.close();
  }
}

describe('bit identity of the optimised denoising loop', () => {
  it.each(SAMPLER_NAMES.map((s) => [s]))('%s, guided and unguided, 2 images per UNet call', async (sampler) => {
    for (const cfgScale of [7.5, 1]) {
      const { optimised, reference, drawnAhead } = await runBoth(model, sampler, cfgScale);
      expect(bits(optimised)).toEqual(bits(reference));
      // 4 steps of DPM++ SDE: 7 UNet calls, the last without noise.
      expect(drawnAhead).toBe(sampler === 'DPM_PLUS_PLUS_SDE_KARRAS' ? 6 : 0);
    }
  });

  it("an inpainting UNet's mask and masked-image channels, one set per image and one shared", async () => {
    const plane = H * W;
    const perImage = createGenerator(21).randn([BATCH, 5, H, W]);
    const shared = createGenerator(22).randn([1, 5, H, W]);
    for (const data of [perImage, shared]) {
      const { optimised, reference } = await runBoth(inpaintModel, 'DDIM', 7.5, { data, channels: 5 });
      expect(bits(optimised)).toEqual(bits(reference));
      expect(optimised.length).toBe(BATCH * 4 * plane);
    }
  });
});

describe('bit identity of the optimised postprocessing', () => {
  it('gives the bytes of clamp-and-round-half-to-even, for latents that saturate and that do not', async () => {
    for (const scale of [1, 40]) {
      const latents = Float32Array.from(createGenerator(7).randn([1, 4, 16, 16]), (v) => v * scale);
      const { pixels } = await decodeLatents(model, latents, 16, 16);
      const expected = await referenceDecode(model, latents, 16, 16);
      expect(Buffer.from(pixels).equals(Buffer.from(expected))).toBe(true);
    }
  });
});
