/**
 * `sampler: "LCM"` end to end: `kiln render` (the built CLI, as users run it) renders with diffusers'
 * LCMScheduler through the SD1.5 pipeline, the image is the one the diffusion runtime makes for the
 * same request, each step is one UNet call, and a step count LCM cannot take is refused naming
 * the flag. The exported tiny model is random weights, so this checks the wiring, not the look:
 * the scheduler's arithmetic is pinned in packages/diffusion/src/schedulers/lcm.scheduler.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb, loadSd15Model, textToImage, type Sd15Model } from '@kiln/diffusion';

const run = promisify(execFile);
const KILN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');
const MODEL = path.resolve(import.meta.dirname, 'fixtures/diffusers-tiny-sd15');
const request = { prompt: 'a lighthouse at dusk', negativePrompt: 'blurry', steps: 4, cfgScale: 1.5 };
const size = { width: 64, height: 64 };

let out: string;
let model: Sd15Model;
beforeAll(async () => {
  out = await mkdtemp(path.join(os.tmpdir(), 'kiln-lcm-'));
  model = await loadSd15Model(MODEL);
});
afterAll(async () => {
  await model?.dispose();
  await rm(out, { recursive: true, force: true });
});

/** The same request through the diffusion runtime, in-process. */
function renderDirect(sampler: string, seeds: number[], microBatchSize = 1) {
  return textToImage(model, { ...request, ...size, sampler, seeds, clipSkip: 1, microBatchSize });
}

/** The same request through the built CLI. */
function render(dir: string, sampler: string, steps = request.steps) {
  return run(process.execPath, [
    KILN,
    'render',
    '--model',
    MODEL,
    '--prompt',
    request.prompt,
    '--negative-prompt',
    request.negativePrompt,
    '--seed',
    '7',
    '--steps',
    String(steps),
    '--cfg-scale',
    String(request.cfgScale),
    '--sampler',
    sampler,
    '--width',
    String(size.width),
    '--height',
    String(size.height),
    '--image-encoding',
    'png',
    '--out',
    dir,
  ]);
}

describe('sampler LCM', () => {
  it('kiln render makes the image the runtime makes for the same request, 4 UNet calls for 4 steps', async () => {
    const dir = path.join(out, 'lcm');
    await render(dir, 'LCM');
    const result = JSON.parse(await readFile(path.join(dir, 'result.json'), 'utf8'));
    expect(result.parameters.sampler).toBe('LCM');
    expect(result.seeds).toEqual([7]);
    const cli = await decodeToRgb(await readFile(path.join(dir, '0.png')));

    const direct = await renderDirect('LCM', [7]);
    expect(direct.timings.unetCalls).toBe(4);
    expect(direct.latents[0].every(Number.isFinite)).toBe(true);
    expect([cli.width, cli.height]).toEqual([64, 64]);
    expect(Buffer.from(cli.pixels).equals(Buffer.from(direct.images[0].pixels))).toBe(true);

    // Another sampler on the same seed and model gives another image: the name reached the scheduler.
    const ddim = await renderDirect('DDIM', [7]);
    expect(Buffer.from(ddim.images[0].pixels).equals(Buffer.from(direct.images[0].pixels))).toBe(false);
  });

  it("draws its step noise from each image's own generator: a seed renders the same alone or in a batch", async () => {
    const pair = await renderDirect('LCM', [7, 8], 2);
    const alone = await renderDirect('LCM', [8]);
    expect(Buffer.from(pair.images[1].pixels).equals(Buffer.from(alone.images[0].pixels))).toBe(true);
    expect(Buffer.from(pair.images[0].pixels).equals(Buffer.from(pair.images[1].pixels))).toBe(false);
  });

  it("refuses more steps than LCM's 50-step schedule, naming --steps (exit 2)", async () => {
    const error = await render(path.join(out, 'too-many'), 'LCM', 51).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 2 });
    expect((error as { stderr: string }).stderr).toMatch(/--steps.*LCM takes at most 50 steps/s);
  });
});
