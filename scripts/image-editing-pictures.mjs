#!/usr/bin/env node
// Writes the pictures of docs/image-editing.md to docs/images/ with Kiln's own pipelines (the
// built packages: run `npx tsc -b` first). By default it renders with the testkit's tiny
// random-weight models, whose VAE decoder turns any latents into noise; so the pictures show what
// does NOT depend on trained weights: which pixels each mode keeps, what the mask does, the
// full-resolution crop, and the outpainting pre-fill the denoiser starts from. With real weights
// (`--model <sd15 folder>` and `--inpaint-model <sd15-inpainting folder>`) the same script shows
// the real thing.
//
//   node scripts/image-editing-pictures.mjs [--model dir] [--inpaint-model dir] [--out docs/images]
import { mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Renderer, encodeImage, outpaintPrefill } from '@kiln/diffusion';
import { makeTinySd15Model } from '@kiln/testkit';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    'inpaint-model': { type: 'string' },
    out: { type: 'string', default: path.join(root, 'docs', 'images') },
  },
});

const SIZE = 256;

async function tinyModel(name, options) {
  const dir = path.join(os.tmpdir(), 'kiln-docs-models', name);
  if (!existsSync(path.join(dir, 'model_index.json'))) await makeTinySd15Model(dir, { seed: 0, ...options });
  return dir;
}

// ---- pictures made of plain pixel arithmetic --------------------------------------------------

function image(width, height, colour) {
  const pixels = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(colour(x, y), (y * width + x) * 3);
  return { width, height, pixels };
}

const mix = (a, b, t) => a.map((v, i) => Math.round(v + (b[i] - v) * t));

/** A small landscape: sky, sun, two hills, a house with a roof and a door. */
function scene(width, height) {
  const s = (v) => (v * width) / 256;
  return image(width, height, (x, y) => {
    const hill1 = s(170) + s(22) * Math.sin(x / s(40));
    const hill2 = s(190) + s(14) * Math.sin(x / s(25) + 2);
    const inHouse = x >= s(70) && x < s(130) && y >= s(130) && y < s(185);
    const inRoof = y >= s(100) && y < s(130) && Math.abs(x - s(100)) < (y - s(100)) * 1.2 + 2;
    const inDoor = x >= s(92) && x < s(108) && y >= s(155) && y < s(185);
    const inWindow = x >= s(112) && x < s(124) && y >= s(140) && y < s(152);
    if (inDoor) return [70, 45, 30];
    if (inWindow) return [200, 230, 255];
    if (inHouse) return [190, 60, 50];
    if (inRoof) return [60, 55, 70];
    if ((x - s(200)) ** 2 + (y - s(55)) ** 2 < s(22) ** 2) return [255, 215, 80];
    if (y > hill2) return mix([70, 140, 60], [40, 95, 40], (y - hill2) / s(70));
    if (y > hill1) return mix([110, 170, 80], [80, 140, 60], (y - hill1) / s(80));
    return mix([110, 170, 235], [200, 225, 245], y / s(170));
  });
}

/** A mask as RGB bytes: white where `inside`, black elsewhere. */
const maskImage = (inside) => image(SIZE, SIZE, (x, y) => (inside(x, y) ? [255, 255, 255] : [0, 0, 0]));
const maskPlane = (inside) => {
  const values = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) values[y * SIZE + x] = inside(x, y) ? 1 : 0;
  return { width: SIZE, height: SIZE, values };
};

/** |a − b| × gain, so that a preserved pixel is black and a repainted one bright. */
function difference(a, b, gain = 4) {
  return { ...a, pixels: a.pixels.map((v, i) => Math.min(255, Math.abs(v - b.pixels[i]) * gain)) };
}

/** The picture shrunk 2× (box filter) into the middle of a white canvas. */
function placedOnCanvas(picture) {
  const half = picture.width / 2;
  const offset = (SIZE - half) / 2;
  return image(SIZE, SIZE, (x, y) => {
    const [u, v] = [x - offset, y - offset];
    if (u < 0 || v < 0 || u >= half || v >= half) return [255, 255, 255];
    const px = (xx, yy, c) => picture.pixels[((2 * v + yy) * picture.width + 2 * u + xx) * 3 + c];
    return [0, 1, 2].map((c) => Math.round((px(0, 0, c) + px(1, 0, c) + px(0, 1, c) + px(1, 1, c)) / 4));
  });
}

/** Draws a 2-pixel rectangle outline (the full-resolution crop region). */
function outline(picture, region, colour = [255, 0, 200]) {
  const out = { ...picture, pixels: new Uint8Array(picture.pixels) };
  for (let y = region.y1; y < region.y2; y++) {
    for (let x = region.x1; x < region.x2; x++) {
      const edge = x - region.x1 < 2 || region.x2 - x <= 2 || y - region.y1 < 2 || region.y2 - y <= 2;
      if (edge) out.pixels.set(colour, (y * picture.width + x) * 3);
    }
  }
  return out;
}

// ---- rendering ---------------------------------------------------------------------------------

const model = args.model ? path.resolve(args.model) : await tinyModel('tiny-sd15', {});
const inpaintModel = args['inpaint-model']
  ? path.resolve(args['inpaint-model'])
  : await tinyModel('tiny-sd15-inpaint', { unetInChannels: 9 });
const renderer = new Renderer({ executionProvider: 'cpu' });
const base = {
  negativePrompt: '',
  sampler: 'DPM_PLUS_PLUS_2M_KARRAS',
  steps: 20,
  cfgScale: 7,
  width: SIZE,
  height: SIZE,
  seeds: [7],
  clipSkip: 1,
  microBatchSize: 1,
};

async function render(modelDir, params) {
  const result = await renderer.render({ family: 'sd15', modelDir, params: { ...base, ...params } });
  return result.images[0];
}

const written = [];
async function save(name, picture) {
  await writeFile(path.join(args.out, name), await encodeImage(picture.pixels, picture.width, picture.height, 'png'));
  written.push(name);
}

await mkdir(args.out, { recursive: true });
const input = scene(SIZE, SIZE);
await save('input.png', input);

// Image-to-image at three strengths.
for (const strength of [0.3, 0.6, 0.9]) {
  await save(
    `img2img-strength-${strength}.png`,
    await render(model, { prompt: 'a watercolor landscape with a red house', initImage: input, strength }),
  );
}

// Inpainting: an ellipse over the house, with both UNet layouts; the difference maps show which pixels changed.
const overHouse = (x, y) => ((x - 100) / 42) ** 2 + ((y - 145) / 50) ** 2 < 1;
await save('inpaint-mask.png', maskImage(overHouse));
const prompt = 'a small stone cottage';
const nine = await render(inpaintModel, { prompt, initImage: input, maskImage: maskPlane(overHouse), strength: 1 });
await save('inpaint-9ch.png', nine);
await save('inpaint-9ch-diff.png', difference(nine, input));
const four = await render(model, { prompt, initImage: input, maskImage: maskPlane(overHouse), strength: 1 });
await save('inpaint-4ch.png', four);
await save('inpaint-4ch-diff.png', difference(four, input));
const raw = await render(inpaintModel, {
  prompt,
  initImage: input,
  maskImage: maskPlane(overHouse),
  strength: 1,
  pasteOriginal: false,
});
await save('inpaint-raw-diff.png', difference(raw, input));
const blurred = await render(inpaintModel, {
  prompt,
  initImage: input,
  maskImage: maskPlane(overHouse),
  strength: 1,
  maskBlur: 8,
});
await save('inpaint-blur8-diff.png', difference(blurred, input));

// Inpaint at full resolution: a small mask on the sun; the crop region around it is rendered at 256×256.
const onSun = (x, y) => (x - 200) ** 2 + (y - 55) ** 2 < 20 ** 2;
const { planInpaint } = await import('../packages/diffusion/dist/pipelines/sd15/inpaint-plan.js');
const plan = await planInpaint(input, maskPlane(onSun), {
  outpainting: false,
  maskBlur: 0,
  fullRes: true,
  fullResPadding: 32,
  pasteOriginal: true,
});
await save('fullres-region.png', outline(input, plan.region));
await save('fullres-work.png', plan.workImage);
const fullRes = await render(inpaintModel, {
  prompt: 'a bright full moon',
  initImage: input,
  maskImage: maskPlane(onSun),
  strength: 1,
  fullRes: true,
});
await save('fullres-result.png', fullRes);

// Outpainting: the picture in the middle of a larger canvas; the new border is masked.
const canvas = placedOnCanvas(input);
const border = (x, y) => x < 64 || x >= 192 || y < 64 || y >= 192;
await save('outpaint-canvas.png', canvas);
await save('outpaint-mask.png', maskImage(border));
await save('outpaint-prefill.png', outpaintPrefill(canvas, maskPlane(border)));
const outParams = {
  prompt: 'a wide landscape with hills',
  initImage: canvas,
  maskImage: maskPlane(border),
  strength: 0.75,
};
await save('outpaint-result.png', await render(inpaintModel, { ...outParams, outpainting: true }));
await save('outpaint-plain-inpaint.png', await render(inpaintModel, outParams));

await renderer.dispose();
console.log(`wrote ${written.length} pictures to ${path.relative(root, args.out) || '.'}: ${written.join(', ')}`);
