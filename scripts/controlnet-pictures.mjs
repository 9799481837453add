#!/usr/bin/env node
// Writes the pictures of docs/controlnet.md to docs/images/ with Kiln's own pipeline (the built
// packages: run `npx tsc -b` first), on the tiny SD1.5 + ControlNet written by diffusers' modules
// (test/fixtures/diffusers-tiny-sd15-controlnet). Its weights are random, so every image is coloured
// noise: the pictures show what the fields do (how strongly and where the ControlNet moves the
// render), not what a trained ControlNet draws. Pass `--model <folder>` (an SD1.5 folder with a
// UNet taking ControlNet residuals and a `controlnet/`) to see the same with real weights.
//
//   node scripts/controlnet-pictures.mjs [--model dir] [--out docs/images]
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ControlNetModel, Renderer, conditioningTensor, encodeImage } from '@kiln/diffusion';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: path.join(root, 'test', 'fixtures', 'diffusers-tiny-sd15-controlnet') },
    out: { type: 'string', default: path.join(root, 'docs', 'images') },
  },
});

const SIZE = 256;
const controlnetFile = path.join(args.model, 'controlnet', 'model.onnx');

/** The reference case's conditioning image, drawn at SIZE: a square outline and a ring, white on black. */
function conditioning() {
  const s = SIZE / 64;
  const pixels = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) {
      const inSquare = x >= 12 * s && x < 52 * s && y >= 12 * s && y < 52 * s;
      const inInner = x >= 14 * s && x < 50 * s && y >= 14 * s && y < 50 * s;
      const ring = Math.abs(Math.hypot(x - 31.5 * s, y - 31.5 * s) - 12 * s) < s;
      if ((inSquare && !inInner) || ring) pixels.fill(255, (y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3);
    }
  return { width: SIZE, height: SIZE, pixels };
}

/** |a − b| × gain: black where the ControlNet changed nothing. */
function difference(a, b, gain = 4) {
  return { ...a, pixels: a.pixels.map((v, i) => Math.min(255, Math.abs(v - b.pixels[i]) * gain)) };
}

const base = {
  prompt: 'a photo of a cat',
  negativePrompt: '',
  sampler: 'DDIM',
  steps: 10,
  cfgScale: 7.5,
  width: SIZE,
  height: SIZE,
  seeds: [42],
  clipSkip: 1,
  microBatchSize: 1,
};

const renderer = new Renderer();
const cond = conditioning();
async function render(scale, earlyStop = 1) {
  const controlnets = scale === undefined ? undefined : [{ model: controlnetFile, image: cond, scale, earlyStop }];
  const result = await renderer.render({ family: 'sd15', modelDir: args.model, params: { ...base, controlnets } });
  return result.images[0];
}

const save = async (name, img) => {
  await writeFile(path.join(args.out, name), await encodeImage(img.pixels, img.width, img.height, 'png'));
  console.log('wrote', path.join(args.out, name));
};

await mkdir(args.out, { recursive: true });
await save('controlnet-cond.png', cond);
const none = await render(undefined);
await save('controlnet-none.png', none);
for (const scale of [0.5, 1, 2]) {
  const img = await render(scale);
  await save(`controlnet-scale-${scale}.png`, img);
  await save(`controlnet-scale-${scale}-diff.png`, difference(img, none));
}
// What the drawing changes in what the ControlNet hands the UNet at the first step: the mean
// |residual(drawing) − residual(black image)| per latent pixel of its first down residual (full
// latent size) and of the mid residual (1/2 for the tiny model), for an empty latent and context,
// shown 8× (nearest). Even with random weights the net is convolutional, so it follows the drawing.
async function residualMaps() {
  const net = await ControlNetModel.load(controlnetFile);
  const latent = SIZE / 8;
  const context = net.session.inputs.get('encoder_hidden_states').shape[2];
  const run = (image) =>
    net.run(
      { data: new Float32Array(4 * latent * latent), dims: [1, 4, latent, latent] },
      { data: Float32Array.of(901), dims: [1] },
      { data: new Float32Array(77 * context), dims: [1, 77, context] },
      conditioningTensor(image, 1),
      1,
    );
  // The drawing's part of the residuals: with the drawing minus with a black image.
  const drawn = await run(cond);
  const black = await run({ ...cond, pixels: new Uint8Array(cond.pixels.length) });
  const minus = (a, b) => ({ dims: a.dims, data: a.data.map((v, i) => v - b.data[i]) });
  const out = { down: drawn.down.map((t, i) => minus(t, black.down[i])), mid: minus(drawn.mid, black.mid) };
  await net.dispose();
  const map = (t) => {
    const [, channels, h, w] = t.dims;
    const mean = new Float32Array(h * w);
    for (let c = 0; c < channels; c++)
      for (let i = 0; i < h * w; i++) mean[i] += Math.abs(t.data[c * h * w + i]) / channels;
    const max = Math.max(...mean);
    const k = SIZE / w;
    const pixels = new Uint8Array(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++)
        pixels.fill(
          Math.round((255 * mean[Math.floor(y / k) * w + Math.floor(x / k)]) / max),
          (y * SIZE + x) * 3,
          (y * SIZE + x) * 3 + 3,
        );
    return { width: SIZE, height: SIZE, pixels };
  };
  await save('controlnet-residual-0.png', map(out.down[0]));
  await save('controlnet-residual-mid.png', map(out.mid));
}
await residualMaps();

const half = await render(1, 0.5);
await save('controlnet-stop-0.5.png', half);
await save('controlnet-stop-0.5-diff.png', difference(half, none));
await renderer.dispose();
