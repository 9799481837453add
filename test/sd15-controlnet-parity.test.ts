/**
 * Kiln's SD1.5 ControlNet pipeline equals diffusers' StableDiffusionControlNetPipeline on the tiny
 * SD1.5 + ControlNet written by diffusers' own modules (fixtures/diffusers-tiny-sd15-controlnet, a
 * copy of ../shared/models/diffusers-tiny-sd15-controlnet; reference in fixtures/sd15-controlnet):
 * the conditioning tensor bitwise, the ControlNet's step-0 outputs, the final latents and the PNG
 * (±1). Then the pipeline facts: scale 0 and early stop 0 give exactly the image without a
 * ControlNet (on the same model, fed zeros, and on the plain model of the same weights), a non-zero
 * scale changes it, two ControlNets' residuals are summed, and a UNet without residual inputs is
 * refused naming `controlnet`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  conditioningTensor,
  ControlNetModel,
  controlNetKeep,
  decodeInitImage,
  decodeToRgb,
  readZip,
  Renderer,
  RenderInputError,
  type RenderResult,
  type Sd15RenderParams,
} from '@kiln/diffusion';
import { maxAbsDiff, readNpy } from './npy.js';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const MODEL = path.join(FIXTURES, 'diffusers-tiny-sd15-controlnet');
const PLAIN_MODEL = path.join(FIXTURES, 'diffusers-tiny-sd15');
const CONTROLNET = path.join(MODEL, 'controlnet', 'model.onnx');
const REFERENCE = path.join(FIXTURES, 'sd15-controlnet');
const reference = JSON.parse(readFileSync(path.join(REFERENCE, 'cases.json'), 'utf8'));
const c = reference.cases.find((x: { id: string }) => x.id === 'caseCN01_DDIM_scale1');
const condPng = readFileSync(path.join(REFERENCE, c.control_image));

/** The arrays of an uncompressed `.npz` (numpy's savez), float32 only. */
function readNpz(file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, bytes] of readZip(readFileSync(file))) {
    const headerLength = bytes[6] === 1 ? bytes[8] | (bytes[9] << 8) : 0;
    const start = 10 + headerLength;
    const copy = new Uint8Array(bytes.subarray(start)); // a copy: aligned for the Float32Array view
    out.set(name.replace(/\.npy$/, ''), new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4));
  }
  return out;
}

const renderer = new Renderer({ maxLoadedModels: 4 });
afterAll(() => renderer.dispose());

const base: Sd15RenderParams = {
  prompt: c.prompt,
  negativePrompt: c.negative_prompt,
  sampler: c.sampler,
  steps: c.num_inference_steps,
  cfgScale: c.guidance_scale,
  width: c.width,
  height: c.height,
  seeds: c.seeds,
  clipSkip: 1,
  microBatchSize: 4,
};

function render(extra: Partial<Sd15RenderParams> = {}, modelDir = MODEL): Promise<RenderResult> {
  return renderer.render({ family: 'sd15', modelDir, params: { ...base, ...extra } });
}

const withControlNet = (scale: number, earlyStop = 1) => ({
  controlnets: [{ model: CONTROLNET, image: condPng, scale, earlyStop }],
});

describe('ControlNet parity with diffusers (caseCN01_DDIM_scale1)', () => {
  it('builds the conditioning tensor bitwise: u8/255 in [0, 1], NCHW, doubled for guidance', async () => {
    const image = await decodeInitImage(condPng, { field: 'controlnet_image', width: 64, height: 64 });
    const expected = readNpy(path.join(REFERENCE, 'controlnet_cond_preprocessed.npy'));
    const tensor = conditioningTensor(image, 2);
    expect(tensor.dims).toEqual(expected.shape);
    expect(maxAbsDiff(tensor.data, expected.data)).toBe(0);
  });

  it("reproduces the ControlNet's step-0 outputs from its recorded inputs", async () => {
    const io = readNpz(path.join(REFERENCE, c.files.step0_controlnet_io_npz));
    const net = await ControlNetModel.load(CONTROLNET);
    try {
      const t = (name: string, dims: number[]) => ({ data: io.get(name) as Float32Array, dims });
      const out = await net.run(
        t('sample', [2, 4, 8, 8]),
        t('timestep', [2]),
        t('encoder_hidden_states', [2, 77, 32]),
        t('controlnet_cond', [2, 3, 64, 64]),
        (io.get('conditioning_scale') as Float32Array)[0],
      );
      expect(out.down).toHaveLength(6);
      out.down.forEach((d, i) =>
        expect(maxAbsDiff(d.data, io.get(`down_block_res_samples.${i}`) as Float32Array)).toBeLessThan(1e-4),
      );
      expect(maxAbsDiff(out.mid.data, io.get('mid_block_res_sample') as Float32Array)).toBeLessThan(1e-4);
    } finally {
      await net.dispose();
    }
  });

  it('matches the reference latents (1e-3) and PNG (±1)', async () => {
    const result = await render(withControlNet(c.controlnet_conditioning_scale));
    expect(result.timings.unetCalls).toBe(c.n_unet_calls);
    const latents = readNpy(path.join(REFERENCE, c.files.latents_npy));
    expect(maxAbsDiff(result.latents[0], latents.data)).toBeLessThan(1e-3);
    const png = await decodeToRgb(readFileSync(path.join(REFERENCE, c.files.png[0])));
    expect(maxAbsDiff(result.images[0].pixels, png.pixels)).toBeLessThanOrEqual(1);
  });
});

describe('ControlNet pipeline facts', () => {
  it('keeps diffusers’ schedule: scale × keep[i], keep from control_guidance_end', () => {
    const keep = Array.from({ length: 10 }, (_, i) => controlNetKeep(i, 10, 0, 0.5));
    expect(keep).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(Array.from({ length: 10 }, (_, i) => controlNetKeep(i, 10, 0, 0))).toEqual(Array(10).fill(0));
  });

  it('scale 0 and early stop 0 give exactly the image without a ControlNet; scale 1 changes it', async () => {
    const none = await render(); // the residual UNet fed zeros
    const plain = await render({}, PLAIN_MODEL); // the same weights exported without residual inputs
    const zero = await render(withControlNet(0));
    const stopped = await render(withControlNet(1, 0));
    const full = await render(withControlNet(1));
    expect(maxAbsDiff(none.latents[0], plain.latents[0])).toBe(0);
    expect(Buffer.from(zero.images[0].pixels).equals(Buffer.from(plain.images[0].pixels))).toBe(true);
    expect(maxAbsDiff(zero.latents[0], plain.latents[0])).toBe(0);
    expect(maxAbsDiff(stopped.latents[0], plain.latents[0])).toBe(0);
    expect(maxAbsDiff(full.images[0].pixels, plain.images[0].pixels)).toBeGreaterThan(10);
  });

  it('early stop 0.5 lies between: differs from both no ControlNet and the full schedule', async () => {
    const half = await render(withControlNet(1, 0.5));
    const full = await render(withControlNet(1));
    const none = await render();
    expect(maxAbsDiff(half.latents[0], full.latents[0])).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(half.latents[0], none.latents[0])).toBeGreaterThan(1e-3);
  });

  it('sums several ControlNets: two at 0.5 equal one at 1 bitwise', async () => {
    const one = await render(withControlNet(1));
    const two = await render({
      controlnets: [
        { model: CONTROLNET, image: condPng, scale: 0.5 },
        { model: CONTROLNET, image: condPng, scale: 0.5 },
      ],
    });
    expect(maxAbsDiff(two.latents[0], one.latents[0])).toBe(0);
  });

  it('renders image-to-image and inpainting with a ControlNet (scale 0 = without)', async () => {
    const init = readFileSync(path.join(REFERENCE, c.control_image));
    // A 16×16 box to repaint: with inpaint_full_res its region (and the conditioning image's) is cut out.
    const nearBox = (k: number) => {
      const p = Math.floor(k / 3);
      return p % 64 >= 8 && p % 64 < 56 && Math.floor(p / 64) >= 8 && Math.floor(p / 64) < 56;
    };
    const inBox = (i: number) => i % 64 >= 24 && i % 64 < 40 && Math.floor(i / 64) >= 24 && Math.floor(i / 64) < 40;
    const box = { width: 64, height: 64, values: Float32Array.from({ length: 64 * 64 }, (_, i) => (inBox(i) ? 1 : 0)) };
    const cases: Partial<Sd15RenderParams>[] = [
      { initImage: init, strength: 0.6 },
      { initImage: init, maskImage: init, strength: 1 },
      { initImage: init, maskImage: box, strength: 1, fullRes: true, fullResPadding: 4 },
    ];
    for (const extra of cases) {
      const plain = await render(extra, PLAIN_MODEL);
      const zero = await render({ ...extra, ...withControlNet(0) });
      const full = await render({ ...extra, ...withControlNet(1) });
      // Not bitwise here: two identical image-to-image renders in one process already differ by
      // ~1e-5 (seen on the plain model without any ControlNet), so the check is to 1e-4.
      expect(maxAbsDiff(zero.latents[0], plain.latents[0])).toBeLessThan(1e-4);
      expect(maxAbsDiff(full.latents[0], plain.latents[0])).toBeGreaterThan(1e-2);
    }
    // inpaint_full_res cuts the conditioning image with the image: pixels outside the region change nothing.
    const cond = await decodeInitImage(condPng, { field: 'controlnet_image', width: 64, height: 64 });
    const altered = {
      ...cond,
      pixels: cond.pixels.map((v, k) => (inBox(Math.floor(k / 3)) || nearBox(k) ? v : 255 - v)),
    };
    const fullRes = { initImage: init, maskImage: box, strength: 1, fullRes: true, fullResPadding: 4 };
    const a = await render({ ...fullRes, controlnets: [{ model: CONTROLNET, image: cond, scale: 1 }] });
    const b = await render({ ...fullRes, controlnets: [{ model: CONTROLNET, image: altered, scale: 1 }] });
    // Within the run-to-run noise of inpainting (above); the same change inside the region is large.
    expect(maxAbsDiff(a.latents[0], b.latents[0])).toBeLessThan(1e-4);
    const inside = { ...cond, pixels: cond.pixels.map((v, k) => (inBox(Math.floor(k / 3)) ? 255 - v : v)) };
    const c2 = await render({ ...fullRes, controlnets: [{ model: CONTROLNET, image: inside, scale: 1 }] });
    expect(maxAbsDiff(a.latents[0], c2.latents[0])).toBeGreaterThan(5e-4);
  });

  it('refuses a ControlNet on a UNet without residual inputs, naming controlnet', async () => {
    const err = await render(withControlNet(1), PLAIN_MODEL).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderInputError);
    expect((err as RenderInputError).field).toBe('controlnet');
    expect((err as Error).message).toMatch(/no ControlNet residual inputs/);
  });

  it('refuses a bad conditioning image naming controlnet_image', async () => {
    const err = await render({
      controlnets: [{ model: CONTROLNET, image: new Uint8Array([1, 2, 3]) }],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RenderInputError);
    expect((err as RenderInputError).field).toBe('controlnet_image');
  });
});
