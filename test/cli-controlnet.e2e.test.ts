/**
 * `npx kiln render --controlnet …` (the built CLI, as users run it) reproduces diffusers'
 * StableDiffusionControlNetPipeline reference on the shared tiny SD1.5 + ControlNet within 1/255
 * per pixel, with the ControlNet inside the model folder and as a separate file; scale 0 equals no
 * ControlNet; bad flags are named and exit 2.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb } from '@kiln/diffusion';
import { REFERENCE_RENDER_FLAGS } from './cli-reference-flags.js';

const run = promisify(execFile);
const KILN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');
const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const MODEL = path.join(FIXTURES, 'diffusers-tiny-sd15-controlnet');
const REFERENCE = path.join(FIXTURES, 'sd15-controlnet');
const COND = path.join(REFERENCE, 'controlnet_cond_64x64.png');

let out: string;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'kiln-cli-controlnet-'));
});
afterAll(() => rm(out, { recursive: true, force: true }));

const common = ['render', '--model', MODEL, ...REFERENCE_RENDER_FLAGS];

async function render(name: string, extra: string[]): Promise<Uint8Array> {
  const dir = path.join(out, name);
  await run(process.execPath, [KILN, ...common, ...extra, '--out', dir]);
  return (await decodeToRgb(await readFile(path.join(dir, '0.png')))).pixels;
}

function maxDiff(a: Uint8Array, b: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('kiln render --controlnet', () => {
  it('reproduces caseCN01_DDIM_scale1 within 1/255, as model:controlnet and as a file', async () => {
    const reference = (await decodeToRgb(await readFile(path.join(REFERENCE, 'caseCN01_DDIM_scale1_img0.png')))).pixels;
    const inModel = await render('in-model', ['--controlnet', 'model:controlnet', '--controlnet-image', COND]);
    expect(maxDiff(inModel, reference)).toBeLessThanOrEqual(1);
    const asFile = await render('as-file', [
      '--controlnet',
      path.join(MODEL, 'controlnet'),
      '--controlnet-image',
      COND,
    ]);
    expect(Buffer.from(asFile).equals(Buffer.from(inModel))).toBe(true);
    const result = JSON.parse(await readFile(path.join(out, 'as-file', 'result.json'), 'utf8'));
    expect(result.parameters.controlnets).toEqual([{ name: 'controlnet', scale: 1, early_stop: 1 }]);
  });

  it('scale 0 gives exactly the image without ControlNet', async () => {
    const none = await render('none', []);
    const zero = await render('zero', [
      '--controlnet',
      'model:controlnet',
      '--controlnet-image',
      COND,
      '--controlnet-conditioning-scale',
      '0',
    ]);
    expect(Buffer.from(zero).equals(Buffer.from(none))).toBe(true);
  });

  it('names the flag and exits 2 for a bad scale, a missing image, and a ControlNet the model lacks', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--controlnet', 'model:controlnet', '--controlnet-image', COND, '--controlnet-conditioning-scale', '5'],
        /--controlnet-conditioning-scale: /,
      ],
      [['--controlnet', 'model:controlnet'], /--controlnet-image: controlnet needs controlnet_image/],
      [
        ['--controlnet', 'model:controlnet_depth', '--controlnet-image', COND],
        /--controlnet: the model has no ControlNet/,
      ],
      [['--controlnet', path.join(out, 'nowhere'), '--controlnet-image', COND], /--controlnet: no such file/],
    ];
    for (const [extra, message] of cases) {
      const error = await run(process.execPath, [KILN, ...common, ...extra, '--out', path.join(out, 'bad')]).catch(
        (e: { code: number; stderr: string }) => e,
      );
      expect(error.code, extra.join(' ')).toBe(2);
      expect(error.stderr).toMatch(message);
    }
  });
});
