/**
 * `npx kiln render` (the built CLI, as users run it) reproduces diffusers' reference cases
 * within 1/255 per pixel, and renders with every sampler name the contract lists.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SD15_SAMPLERS } from '@kiln/contracts';
import { decodeToRgb, loadSd15Model, textToImage, type Sd15Model } from '@kiln/diffusion';
import { ensureTestModel } from './harness.js';

const run = promisify(execFile);
const KILN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');
const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const REFERENCE = path.join(FIXTURES, 'sd15-pipeline');

let out: string;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'kiln-cli-'));
});
afterAll(() => rm(out, { recursive: true, force: true }));

async function maxPixelDiff(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([decodeToRgb(a), decodeToRgb(b)]);
  expect([x.width, x.height]).toEqual([y.width, y.height]);
  let max = 0;
  for (let i = 0; i < x.pixels.length; i++) max = Math.max(max, Math.abs(x.pixels[i] - y.pixels[i]));
  return max;
}

const cases = JSON.parse(await readFile(path.join(REFERENCE, 'cases.json'), 'utf8')).cases.filter(
  (c: any) => c.kind === 'txt2img',
);

describe.each(cases)('kiln render reproduces $id', (c: any) => {
  it('within 1/255 per pixel, writing result.json', async () => {
    const dir = path.join(out, c.id);
    await run(process.execPath, [
      KILN,
      'render',
      '--model',
      path.join(FIXTURES, 'diffusers-tiny-sd15'),
      '--prompt',
      c.prompt,
      '--negative-prompt',
      c.negative_prompt,
      '--seed',
      c.seeds.join(','),
      '--num-images',
      String(c.seeds.length),
      '--steps',
      String(c.num_inference_steps),
      '--cfg-scale',
      String(c.guidance_scale),
      '--sampler',
      c.sampler,
      '--width',
      String(c.width),
      '--height',
      String(c.height),
      '--image-encoding',
      'png',
      '--out',
      dir,
    ]);
    const result = JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8'));
    expect(result.seeds).toEqual(c.seeds);
    expect(result.parameters.sampler).toBe(c.sampler);
    for (const [index, png] of c.files.png.entries()) {
      const diff = await maxPixelDiff(
        await readFile(path.join(dir, `${index}.png`)),
        await readFile(path.join(REFERENCE, png)),
      );
      expect(diff).toBeLessThanOrEqual(1);
    }
  });
});

describe('kiln render input errors', () => {
  it('names the flag at fault and exits 2', async () => {
    const error = await run(process.execPath, [
      KILN,
      'render',
      '--model',
      'x',
      '--out',
      out,
      '--prompt',
      'x',
      '--steps',
      '500',
    ]).catch((e) => e);
    expect(error.code).toBe(2);
    expect(error.stderr).toMatch(/--steps/);
  });
});

describe('every SD1.5 sampler name', () => {
  let model: Sd15Model;
  beforeAll(async () => {
    model = await loadSd15Model(await ensureTestModel('tiny-sd15'));
  });
  afterAll(() => model?.dispose());

  it.each([...SD15_SAMPLERS])('%s renders a finite, seed-deterministic image', async (sampler) => {
    const params = {
      prompt: 'a cat',
      negativePrompt: '',
      sampler,
      steps: 5,
      cfgScale: 7,
      width: 64,
      height: 64,
      seeds: [9],
      clipSkip: 1,
      microBatchSize: 4,
    };
    const a = await textToImage(model, params);
    const b = await textToImage(model, params);
    expect(a.latents[0].every(Number.isFinite)).toBe(true);
    expect(Buffer.from(a.images[0].pixels).equals(Buffer.from(b.images[0].pixels))).toBe(true);
  });
});
