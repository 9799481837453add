import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from '@kiln/testkit';
import type { OnnxModel } from './onnx-session.js';
import { unetInChannels } from './unet-channels.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'kiln-unet-channels-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** The parts of an OnnxModel the lookup reads. */
function unetOf(file: string, channelDim: number | string): OnnxModel {
  return { path: file, inputs: new Map([['sample', { name: 'sample', type: 'float32', shape: ['batch', channelDim, 'h', 'w'] }]]) } as unknown as OnnxModel;
}

describe('unetInChannels', () => {
  it('uses a numeric channel dimension as it is', async () => {
    expect(await unetInChannels(root, unetOf('/nowhere/model.onnx', 9))).toBe(9);
  });

  it('reads conv_in\'s weight when the dimension is symbolic (diffusers\' export and the testkit)', async () => {
    const diffusers = fileURLToPath(new URL('../../../../test/fixtures/diffusers-tiny-sd15/', import.meta.url));
    expect(await unetInChannels(diffusers, unetOf(path.join(diffusers, 'unet', 'model.onnx'), 'channels'))).toBe(4);
    const inpainting = await makeTinySd15Model(path.join(root, 'inpaint'), { seed: 3, unetInChannels: 9 });
    expect(await unetInChannels(inpainting.dir, unetOf(path.join(inpainting.dir, 'unet', 'model.onnx'), 'channels'))).toBe(9);
  });

  it('prefers unet/config.json, and falls back to model_index.json\'s pipeline class', async () => {
    const dir = path.join(root, 'configs');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.join(dir, 'unet'), { recursive: true }));
    await writeFile(path.join(dir, 'unet', 'config.json'), JSON.stringify({ in_channels: 9 }));
    expect(await unetInChannels(dir, unetOf(path.join(dir, 'unet', 'missing.onnx'), 'channels'))).toBe(9);
    await rm(path.join(dir, 'unet', 'config.json'));
    await writeFile(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionInpaintPipeline' }));
    expect(await unetInChannels(dir, unetOf(path.join(dir, 'unet', 'missing.onnx'), 'channels'))).toBe(9);
    await writeFile(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'OnnxStableDiffusionPipeline' }));
    expect(await unetInChannels(dir, unetOf(path.join(dir, 'unet', 'missing.onnx'), 'channels'))).toBe(4);
  });
});
