/**
 * `npx kiln render --init-image … --strength …` (the built CLI, as users run it) reproduces
 * diffusers' img2img reference case within 1/255 per pixel, inpaints from files, and names the flag
 * of an image it cannot use.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb, encodeImage } from '@kiln/diffusion';
import { REFERENCE_RENDER_FLAGS } from './cli-reference-flags.js';

const run = promisify(execFile);
const KILN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');
const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const REFERENCE = path.join(FIXTURES, 'sd15-pipeline');
const INIT = path.join(REFERENCE, 'img2img_init_64x64.png');

let out: string;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'kiln-cli-img2img-'));
});
afterAll(() => rm(out, { recursive: true, force: true }));

const common = ['--model', path.join(FIXTURES, 'diffusers-tiny-sd15'), ...REFERENCE_RENDER_FLAGS];

function maxDiff(a: Uint8Array, b: Uint8Array, where: (p: number) => boolean = () => true): number {
  let max = 0;
  for (let p = 0; p < a.length / 3; p++)
    if (where(p)) for (let c = 0; c < 3; c++) max = Math.max(max, Math.abs(a[p * 3 + c] - b[p * 3 + c]));
  return max;
}

describe('kiln render --init-image', () => {
  it('reproduces case09_img2img_DDIM within 1/255 per pixel', async () => {
    const dir = path.join(out, 'case09');
    await run(process.execPath, [KILN, 'render', ...common, '--init-image', INIT, '--strength', '0.6', '--out', dir]);
    const mine = await decodeToRgb(await readFile(path.join(dir, '0.png')));
    const reference = await decodeToRgb(await readFile(path.join(REFERENCE, 'case09_img2img_DDIM_img0.png')));
    expect(maxDiff(mine.pixels, reference.pixels)).toBeLessThanOrEqual(1);
    const result = JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8'));
    expect(result.parameters).toMatchObject({ strength: 0.6, sampler: 'DDIM' });
    expect(result.parameters.init_image).toBeUndefined();
    expect(result.timings.unetCalls).toBe(6);
  });

  it('inpaints with --mask-image, keeping the unmasked pixels of the input', async () => {
    const maskBytes = new Uint8Array(64 * 64 * 3);
    const inMask = (p: number) => p % 64 >= 20 && p % 64 < 44 && Math.floor(p / 64) >= 20 && Math.floor(p / 64) < 44;
    for (let p = 0; p < 64 * 64; p++) if (inMask(p)) maskBytes.fill(255, p * 3, p * 3 + 3);
    const maskFile = path.join(out, 'mask.png');
    await writeFile(maskFile, await encodeImage(maskBytes, 64, 64, 'png'));
    const dir = path.join(out, 'inpaint');
    await run(process.execPath, [
      KILN,
      'render',
      ...common,
      '--init-image',
      INIT,
      '--mask-image',
      maskFile,
      '--strength',
      '1',
      '--mask-blur',
      '0',
      '--out',
      dir,
    ]);
    const result = await decodeToRgb(await readFile(path.join(dir, '0.png')));
    const input = await decodeToRgb(await readFile(INIT));
    expect(maxDiff(result.pixels, input.pixels, (p) => !inMask(p))).toBe(0);
    expect(maxDiff(result.pixels, input.pixels, inMask)).toBeGreaterThan(0);
  });

  it('names --init-image and exits 2 for a file that is not an image', async () => {
    const bogus = path.join(out, 'bogus.png');
    await writeFile(bogus, 'this is not a PNG');
    const error = await run(process.execPath, [
      KILN,
      'render',
      ...common,
      '--init-image',
      bogus,
      '--out',
      path.join(out, 'bogus'),
    ]).catch((e) => e);
    expect(error.code).toBe(2);
    expect(error.stderr).toMatch(/--init-image: init_image could not be read/);
  });
});
