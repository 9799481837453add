import { describe, expect, it } from 'vitest';
import { uniformMask, type MaskPlane, type RgbImage } from '../../image/raster.js';
import { binarizeMask, planInpaint } from './inpaint-plan.js';

const W = 64;
const picture: RgbImage = {
  width: W,
  height: W,
  pixels: Uint8Array.from({ length: W * W * 3 }, (_, i) => (i * 13) % 251),
};
const options = { outpainting: false, maskBlur: 0, fullRes: false, fullResPadding: 4, pasteOriginal: true };

function rect(x1: number, y1: number, x2: number, y2: number, value = 1): MaskPlane {
  const mask = uniformMask(W, W, 0);
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) mask.values[y * W + x] = value;
  return mask;
}

describe('planInpaint', () => {
  it('binarizes the mask at 0.5 (diffusers: white = repaint)', () => {
    const values = binarizeMask({ width: 4, height: 1, values: Float32Array.from([0, 0.49, 0.5, 1]) }).values;
    expect([...values]).toEqual([0, 0, 1, 1]);
  });

  it('renders the whole image without fullRes, and pastes the original back outside the mask', async () => {
    const mask = rect(10, 10, 20, 20);
    const plan = await planInpaint(picture, mask, options);
    expect(plan.region).toBeUndefined();
    expect(plan.workImage).toBe(picture);
    const generated: RgbImage = { width: W, height: W, pixels: new Uint8Array(W * W * 3).fill(9) };
    const out = await plan.compose(generated);
    expect(out.pixels[(15 * W + 15) * 3]).toBe(9);
    expect(out.pixels[(40 * W + 40) * 3]).toBe(picture.pixels[(40 * W + 40) * 3]);
    const raw = await (await planInpaint(picture, mask, { ...options, pasteOriginal: false })).compose(generated);
    expect(raw.pixels[(40 * W + 40) * 3]).toBe(9);
  });

  it('with fullRes cuts the padded, aspect-matched region, scales it to the output and pastes it back in place', async () => {
    const mask = rect(40, 8, 52, 20);
    const plan = await planInpaint(picture, mask, { ...options, fullRes: true, pasteOriginal: false });
    expect(plan.region).toEqual({ x1: 36, y1: 4, x2: 56, y2: 24 });
    expect([plan.workImage.width, plan.workImage.height]).toEqual([W, W]);
    // the mask is scaled with the crop: its 12 px box is 12 × 64/20 ≈ 38 px wide now
    const covered = plan.workMask.values.reduce((s, v) => s + v, 0);
    expect(covered).toBeGreaterThan(30 * 30);
    const generated: RgbImage = { width: W, height: W, pixels: new Uint8Array(W * W * 3).fill(200) };
    const out = await plan.compose(generated);
    expect(out.pixels[(10 * W + 45) * 3]).toBe(200); // inside the region
    expect(out.pixels[(40 * W + 10) * 3]).toBe(picture.pixels[(40 * W + 10) * 3]); // outside it
  });

  it('pre-fills the masked area for outpainting and leaves the known area as it was', async () => {
    const border = uniformMask(W, W, 1);
    for (let y = 16; y < 48; y++) for (let x = 16; x < 48; x++) border.values[y * W + x] = 0;
    const plan = await planInpaint(picture, border, { ...options, outpainting: true });
    expect(plan.workImage).not.toBe(picture);
    const i = (32 * W + 32) * 3;
    expect(plan.workImage.pixels[i]).toBe(picture.pixels[i]);
    expect(Buffer.from(plan.workImage.pixels).equals(Buffer.from(picture.pixels))).toBe(false);
  });
});
