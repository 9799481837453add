/**
 * `kiln render --loras … --textual-inversions … --vae … --checkpoint …` (the built CLI, as users
 * run it) with files the testkit writes: each asset changes the image, weight 0 and a prompt
 * without the trigger give the base image byte for byte, `library:` names come from
 * KILN_ASSETS_DIR, and a LoRA that does not fit the model exits 2 naming --loras.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { encodeSafetensors, makeTinyEmbedding, makeTinyLora, makeTinySd15Model } from '@kiln/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTestModel } from './harness.js';

const run = promisify(execFile);
const KILN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

let work: string;
let modelDir: string;
let otherModel: string;
const files: Record<string, string> = {};

/** Renders with the flags given; returns the PNG bytes and result.json. */
async function render(name: string, flags: string[], env: Record<string, string> = {}) {
  const out = path.join(work, 'out', name);
  await run(
    process.execPath,
    [
      KILN,
      'render',
      '--model',
      modelDir,
      '--prompt',
      'a <tiny> test',
      '--seed',
      '5',
      '--steps',
      '2',
      '--width',
      '64',
      '--height',
      '64',
      '--image-encoding',
      'png',
      '--out',
      out,
      ...flags,
    ],
    { env: { ...process.env, ...env } },
  );
  return {
    png: await readFile(path.join(out, '0.png')),
    result: JSON.parse(await readFile(path.join(out, 'result.json'), 'utf8')),
  };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'kiln-cli-assets-'));
  modelDir = await ensureTestModel('tiny-sd15');
  otherModel = path.join(work, 'other-model');
  await makeTinySd15Model(otherModel, { seed: 5 });
  const lora = await makeTinyLora(modelDir);
  files.lora = path.join(work, 'style.safetensors');
  await writeFile(files.lora, lora.peftF16);
  files.embedding = path.join(work, 'concept.pt');
  await writeFile(files.embedding, makeTinyEmbedding(32).a1111Pt);
  const layer = lora.layers.find(
    (l) => l.upShape.length === 2 && l.component === 'unet',
  ) as (typeof lora.layers)[number];
  files.misfit = path.join(work, 'misfit.safetensors');
  await writeFile(
    files.misfit,
    encodeSafetensors({
      [`unet.${layer.module}.lora_A.weight`]: { dtype: 'F32', shape: layer.downShape, values: layer.down },
      [`unet.${layer.module}.lora_B.weight`]: {
        dtype: 'F32',
        shape: [layer.upShape[0] * 2, layer.upShape[1]],
        values: new Float32Array(layer.up.length * 2),
      },
    }),
  );
  files.library = path.join(work, 'library');
  await mkdir(path.join(files.library, 'lora'), { recursive: true });
  await writeFile(path.join(files.library, 'lora', 'house.safetensors'), lora.peftF16);
}, 120_000);
afterAll(() => rm(work, { recursive: true, force: true }));

describe('kiln render with assets', () => {
  it('applies LoRAs, textual inversions, VAEs and checkpoints; weight 0 and untriggered prompts are the base image', async () => {
    const base = await render('base', []);
    const lora = await render('lora', ['--loras', `${files.lora}=1`]);
    expect(lora.png.equals(base.png)).toBe(false);
    expect(lora.result.assets.mergedLoraLayers).toBeGreaterThan(0);
    expect(lora.result.assets.unmatchedLoraKeys).toEqual([]);
    expect((await render('lora-0', ['--loras', `${files.lora}=0`])).png.equals(base.png)).toBe(true);
    const library = await render('library', ['--loras', 'library:house=1'], { KILN_ASSETS_DIR: files.library });
    expect(library.png.equals(lora.png)).toBe(true);

    const ti = await render('ti', ['--textual-inversions', `${files.embedding}=<tiny>`]);
    expect(ti.png.equals(base.png)).toBe(false);
    const untriggered = await render('ti-other', ['--textual-inversions', `${files.embedding}=<elsewhere>`]);
    expect(untriggered.png.equals(base.png)).toBe(true);

    expect((await render('vae', ['--vae', otherModel])).png.equals(base.png)).toBe(false);
    expect((await render('checkpoint', ['--checkpoint', otherModel])).png.equals(base.png)).toBe(false);
  }, 120_000);

  it('exits 2 naming the flag for a LoRA that does not fit, or a file that is not there', async () => {
    const misfit = await render('misfit', ['--loras', `${files.misfit}=1`]).catch((err) => err);
    expect(misfit.code).toBe(2);
    expect(misfit.stderr).toMatch(/--loras: misfit\.safetensors: .*does not fit/);
    const missing = await render('missing', ['--vae', path.join(work, 'nope')]).catch((err) => err);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--vae: no such file or folder/);
  }, 60_000);
});
