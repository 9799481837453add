/**
 * Inpainting and outpainting end to end through the API and worker: a 9-channel inpainting
 * checkpoint made by the testkit and the default 4-channel model, the paste-back, Kiln's
 * A1111-style options, masks of other sizes, and the bad-input cases of the issue.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb, encodeImage } from '@kiln/diffusion';
import { ensureTestModel, getJson, pollUntil, postJson, startHarness, type Harness } from './harness.js';

const SIZE = 64;

/** RGB bytes of a SIZE×SIZE image from a colour function. */
function pixels(colour: (x: number, y: number) => [number, number, number]): Uint8Array {
  const out = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) out.set(colour(x, y), (y * SIZE + x) * 3);
  return out;
}

const picture = pixels((x, y) => [
  Math.round((255 * x) / 63),
  Math.round((255 * y) / 63),
  (x - 32) ** 2 + (y - 32) ** 2 < 100 ? 255 : 40,
]);
const inBox = (x: number, y: number) => x >= 16 && x < 48 && y >= 16 && y < 48;
const boxMask = pixels((x, y) => (inBox(x, y) ? [255, 255, 255] : [0, 0, 0]));
/** The picture shrunk into the middle of a white canvas, and the mask of its new border. */
const canvas = pixels((x, y) =>
  inBox(x, y)
    ? ([
        ...picture.subarray(((y - 16) * 2 * SIZE + (x - 16) * 2) * 3, ((y - 16) * 2 * SIZE + (x - 16) * 2) * 3 + 3),
      ] as [number, number, number])
    : [255, 255, 255],
);
const borderMask = pixels((x, y) => (inBox(x, y) ? [0, 0, 0] : [255, 255, 255]));

const png = async (data: Uint8Array, size = SIZE) => (await encodeImage(data, size, size, 'png')).toString('base64');

let h: Harness;
let body: Record<string, unknown>;
beforeAll(async () => {
  await ensureTestModel('tiny-sd15-inpaint', { unetInChannels: 9 });
  h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1' });
  body = {
    prompt: 'a cat',
    width: SIZE,
    height: SIZE,
    steps: 6,
    cfg_scale: 7,
    seed: 11,
    image_encoding: 'png',
    init_image: await png(picture),
    mask_image: await png(boxMask),
  };
});
afterAll(() => h?.stop());

async function render(extra: Record<string, unknown>): Promise<Uint8Array> {
  const res = await postJson(`${h.url}/generate/sd`, { ...body, ...extra });
  expect(res.status, res.text).toBe(200);
  const image = await decodeToRgb(Buffer.from(res.json.images[0].image_b64, 'base64'));
  expect([image.width, image.height]).toEqual([SIZE, SIZE]);
  return image.pixels;
}

/** Largest per-channel difference over the pixels (x, y) `where` selects. */
function maxDiff(a: Uint8Array, b: Uint8Array, where: (x: number, y: number) => boolean): number {
  let max = 0;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      if (!where(x, y)) continue;
      for (let c = 0; c < 3; c++) max = Math.max(max, Math.abs(a[(y * SIZE + x) * 3 + c] - b[(y * SIZE + x) * 3 + c]));
    }
  }
  return max;
}
const outsideBox = (x: number, y: number) => !inBox(x, y);

describe('inpainting through the API', () => {
  it.each([
    ['the 9-channel inpainting checkpoint', { checkpoint: 'tiny-sd15-inpaint', strength: 1 }],
    ['the default 4-channel model (legacy blend)', { strength: 1 }],
    ['the 9-channel checkpoint at strength 0.7', { checkpoint: 'tiny-sd15-inpaint', strength: 0.7 }],
  ])('%s repaints the white area and returns the rest of the input exactly', async (_name, extra) => {
    const out = await render(extra);
    expect(maxDiff(out, picture, outsideBox)).toBe(0);
    expect(maxDiff(out, picture, inBox)).toBeGreaterThan(20);
  });

  it('inpaint_paste_original: false returns the raw decode outside the mask', async () => {
    const pasted = await render({ checkpoint: 'tiny-sd15-inpaint' });
    const raw = await render({ checkpoint: 'tiny-sd15-inpaint', inpaint_paste_original: false });
    expect(maxDiff(raw, pasted, inBox)).toBe(0);
    expect(maxDiff(raw, picture, outsideBox)).toBeGreaterThan(0);
  });

  it('accepts mask_blur and inpaint_full_res, keeping pixels far from the mask', async () => {
    const small = pixels((x, y) => (x >= 40 && x < 52 && y >= 8 && y < 20 ? [255, 255, 255] : [0, 0, 0]));
    const out = await render({
      mask_image: await png(small),
      mask_blur: 2,
      inpaint_full_res: true,
      inpaint_full_res_padding: 4,
    });
    expect(maxDiff(out, picture, (x, y) => x < 30 || y > 30)).toBe(0);
    expect(maxDiff(out, picture, (x, y) => x >= 40 && x < 52 && y >= 8 && y < 20)).toBeGreaterThan(0);
  });

  it('resizes a mask of another size and format instead of rejecting it', async () => {
    const half = new Uint8Array(32 * 32 * 3);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        if (x >= 8 && x < 24 && y >= 8 && y < 24) half.fill(255, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
    const jpegMask = (await encodeImage(half, 32, 32, 'jpeg')).toString('base64');
    const out = await render({ mask_image: jpegMask, checkpoint: 'tiny-sd15-inpaint' });
    // far from the scaled-up (and slightly ringing) mask edge, the input is returned as it was
    expect(maxDiff(out, picture, (x, y) => x < 10 || x >= 54 || y < 10 || y >= 54)).toBe(0);
    expect(maxDiff(out, picture, (x, y) => x >= 20 && x < 44 && y >= 20 && y < 44)).toBeGreaterThan(0);
  });

  it('works asynchronously (X-OctoAI-Async) with the same result', async () => {
    const sync = await render({ checkpoint: 'tiny-sd15-inpaint' });
    const accepted = await postJson(
      `${h.url}/generate/sd`,
      { ...body, checkpoint: 'tiny-sd15-inpaint' },
      { 'X-OctoAI-Async': '1' },
    );
    expect(accepted.status).toBe(201);
    const done = await pollUntil(async () => {
      const s = await getJson(accepted.json.poll_url);
      return s.json.status === 'completed' ? s.json : undefined;
    });
    const response = await getJson(done.response_url);
    const image = await decodeToRgb(Buffer.from(response.json.images[0].image_b64, 'base64'));
    expect(Buffer.from(image.pixels).equals(Buffer.from(sync))).toBe(true);
  });
});

describe('outpainting through the API', () => {
  it('keeps the placed picture and paints the border from the pre-fill, unlike plain inpainting of the same canvas', async () => {
    for (const checkpoint of ['tiny-sd15-inpaint', undefined]) {
      const common = {
        init_image: await png(canvas),
        mask_image: await png(borderMask),
        strength: 0.6,
        ...(checkpoint && { checkpoint }),
      };
      const outpainted = await render({ ...common, outpainting: true });
      const inpainted = await render(common);
      expect(maxDiff(outpainted, canvas, inBox)).toBe(0);
      expect(maxDiff(outpainted, inpainted, outsideBox)).toBeGreaterThan(0);
    }
  });
});

describe('bad inpainting input', () => {
  it('answers 422 naming mask_image without init_image, and outpainting without a mask', async () => {
    const noInit = await postJson(`${h.url}/generate/sd`, { prompt: 'x', mask_image: body.mask_image });
    expect(noInit.status).toBe(422);
    expect(noInit.json.detail.map((d: any) => d.loc.join('.'))).toEqual(['body.mask_image']);
    const noMask = await postJson(`${h.url}/generate/sd`, {
      prompt: 'x',
      init_image: body.init_image,
      outpainting: true,
    });
    expect(noMask.status).toBe(422);
    expect(noMask.json.detail.map((d: any) => d.loc.join('.'))).toEqual(['body.outpainting']);
    const outOfRange = await postJson(`${h.url}/generate/sd`, { ...body, mask_blur: 500 });
    expect(outOfRange.status).toBe(422);
    expect(outOfRange.json.detail[0].loc).toEqual(['body', 'mask_blur']);
  });

  it('answers 400 naming mask_image for a mask that is not an image, at the door or in the worker', async () => {
    const notImage = await postJson(`${h.url}/generate/sd`, {
      ...body,
      mask_image: Buffer.from('no image here').toString('base64'),
    });
    expect(notImage.status).toBe(400);
    expect(notImage.json.error).toMatchObject({ code: 'invalid_image', field: 'mask_image' });
    const maskPng = Buffer.from(body.mask_image as string, 'base64');
    const corrupt = Buffer.from(maskPng);
    corrupt.fill(7, 60, corrupt.length - 12); // header intact, compressed data garbage
    const broken = await postJson(`${h.url}/generate/sd`, { ...body, mask_image: corrupt.toString('base64') });
    expect(broken.status, broken.text).toBe(400);
    expect(broken.json.error).toMatchObject({ code: 'invalid_image', field: 'mask_image' });
  });

  it('answers 422 pointing at mask_image for text-to-image on an inpainting checkpoint', async () => {
    const res = await postJson(`${h.url}/generate/sd`, {
      prompt: 'x',
      width: SIZE,
      height: SIZE,
      steps: 2,
      checkpoint: 'tiny-sd15-inpaint',
    });
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'input_rejected', field: 'mask_image' });
  });
});
