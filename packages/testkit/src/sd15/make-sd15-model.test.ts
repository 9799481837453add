import * as ort from 'onnxruntime-node';
import { readInitializer, readModel } from '@kiln/onnx';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from './make-sd15-model.js';
import type { MadeSd15Model } from './make-sd15-model.js';
import {
  floatTensor,
  maxAbsDifference,
  openSession,
  promptIds,
  randomTensor,
  signature,
  summary,
  values,
} from './ort.test-helpers.js';

let root: string;
let base: MadeSd15Model;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-testkit-folder-'));
  base = await makeTinySd15Model(join(root, 'base'), { seed: 11 });
});
afterAll(() => rm(root, { recursive: true, force: true }));

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) =>
      entry.isDirectory() ? listFiles(join(dir, entry.name), `${prefix}${entry.name}/`) : [`${prefix}${entry.name}`],
    ),
  );
  return nested.flat().sort();
}

describe('makeTinySd15Model folder', () => {
  it('writes the diffusers ONNX layout', async () => {
    expect(await listFiles(base.dir)).toEqual([
      'model_index.json',
      'scheduler/scheduler_config.json',
      'text_encoder/model.onnx',
      'tokenizer/merges.txt',
      'tokenizer/special_tokens_map.json',
      'tokenizer/tokenizer_config.json',
      'tokenizer/vocab.json',
      'unet/model.onnx',
      'unet/weights.pb',
      'vae_decoder/model.onnx',
      'vae_encoder/model.onnx',
    ]);
    expect(Object.keys(base.files).sort()).toEqual([
      'text_encoder/model.onnx',
      'unet/model.onnx',
      'unet/weights.pb',
      'vae_decoder/model.onnx',
      'vae_encoder/model.onnx',
    ]);
  });

  it('writes model_index.json, the PNDM scheduler config and the real CLIP tokenizer', async () => {
    const index = JSON.parse(await readFile(join(base.dir, 'model_index.json'), 'utf8'));
    expect(index._class_name).toBe('OnnxStableDiffusionPipeline');
    expect(index.scheduler).toEqual(['diffusers', 'PNDMScheduler']);
    expect(index.tokenizer).toEqual(['transformers', 'CLIPTokenizer']);
    for (const part of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'])
      expect(index[part]).toEqual(['diffusers', 'OnnxRuntimeModel']);
    const scheduler = JSON.parse(await readFile(join(base.dir, 'scheduler', 'scheduler_config.json'), 'utf8'));
    expect(scheduler).toMatchObject({
      _class_name: 'PNDMScheduler',
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      beta_end: 0.012,
      num_train_timesteps: 1000,
      steps_offset: 1,
      skip_prk_steps: true,
      set_alpha_to_one: false,
    });
    const vocab = JSON.parse(await readFile(join(base.dir, 'tokenizer', 'vocab.json'), 'utf8'));
    expect(Object.keys(vocab)).toHaveLength(49408);
    expect(vocab['<|startoftext|>']).toBe(49406);
    expect(vocab['<|endoftext|>']).toBe(49407);
  });
});

describe('makeTinySd15Model determinism', () => {
  it('writes byte-identical files for the same seed', async () => {
    const again = await makeTinySd15Model(join(root, 'again'), { seed: 11 });
    for (const file of await listFiles(base.dir)) {
      const [a, b] = await Promise.all([readFile(join(base.dir, file)), readFile(join(again.dir, file))]);
      expect(a.equals(b), file).toBe(true);
    }
  });

  it('draws different weights for a different seed, with the same structure', async () => {
    const other = await makeTinySd15Model(join(root, 'other'), { seed: 12 });
    expect(other.files).toEqual(base.files);
    for (const [file, name] of [
      ['text_encoder/model.onnx', 'text_model.encoder.layers.0.layer_norm1.weight'],
      ['unet/model.onnx', 'conv_in.weight'],
      ['vae_decoder/model.onnx', 'decoder.conv_in.weight'],
      ['vae_encoder/model.onnx', 'encoder.conv_in.weight'],
    ]) {
      const [a, b] = await Promise.all([readModel(join(base.dir, file)), readModel(join(other.dir, file))]);
      expect(maxAbsDifference(readInitializer(a, name), readInitializer(b, name)), `${file} ${name}`).toBeGreaterThan(
        0.01,
      );
    }
  });
});

describe('makeTinySd15Model variants', () => {
  it('writes a 9-channel inpainting UNet', async () => {
    const made = await makeTinySd15Model(join(root, 'inpaint'), { seed: 11, unetInChannels: 9 });
    const index = JSON.parse(await readFile(join(made.dir, 'model_index.json'), 'utf8'));
    expect(index._class_name).toBe('OnnxStableDiffusionInpaintPipeline');
    const unet = await openSession(join(made.dir, 'unet', 'model.onnx'));
    const { out_sample } = await unet.run({
      sample: randomTensor('float32', [2, 9, 8, 8], 'inpaint-sample'),
      timestep: floatTensor('float32', [999, 999], [2]),
      encoder_hidden_states: randomTensor('float32', [2, 77, 32], 'inpaint-context'),
    });
    expect(out_sample.dims).toEqual([2, 4, 8, 8]);
    expect(summary(values(out_sample)).nonFinite).toBe(0);
    expect(readInitializer(await readModel(join(made.dir, 'unet', 'model.onnx')), 'conv_in.weight')).toHaveLength(
      32 * 9 * 9,
    );
  });

  it('writes optimum’s latent_parameters encoder: mean ‖ log-variance, the mean equal to latent_sample', async () => {
    const made = await makeTinySd15Model(join(root, 'parameters'), { seed: 11, vaeOutputs: 'latent_parameters' });
    const parametersEncoder = await openSession(join(made.dir, 'vae_encoder', 'model.onnx'));
    const sampleEncoder = await openSession(join(base.dir, 'vae_encoder', 'model.onnx'));
    expect(signature(parametersEncoder).outputs).toEqual([['latent_parameters', 'float32']]);
    const image = randomTensor('float32', [2, 3, 64, 96], 'parameters-image', 0.5);
    const { latent_parameters } = await parametersEncoder.run({ sample: image });
    const { latent_sample } = await sampleEncoder.run({ sample: image });
    expect(latent_parameters.dims).toEqual([2, 8, 8, 12]);
    const moments = values(latent_parameters);
    const plane = 8 * 12;
    for (let b = 0; b < 2; b++) {
      const mean = moments.subarray(b * 8 * plane, (b * 8 + 4) * plane);
      const logVariance = summary(moments.subarray((b * 8 + 4) * plane, (b + 1) * 8 * plane));
      expect(maxAbsDifference(mean, values(latent_sample).subarray(b * 4 * plane, (b + 1) * 4 * plane))).toBeLessThan(
        1e-5,
      );
      expect(logVariance.mean).toBeLessThan(-6);
      expect(logVariance.mean).toBeGreaterThan(-10);
    }
  });

  it('writes float16 weights and float16 I/O (int32 input_ids) that run and track the float32 model', async () => {
    const made = await makeTinySd15Model(join(root, 'fp16'), { seed: 11, fp16: true });
    const text = await openSession(join(made.dir, 'text_encoder', 'model.onnx'));
    const unet = await openSession(join(made.dir, 'unet', 'model.onnx'));
    const decoder = await openSession(join(made.dir, 'vae_decoder', 'model.onnx'));
    const encoder = await openSession(join(made.dir, 'vae_encoder', 'model.onnx'));
    expect(signature(text).inputs).toEqual([['input_ids', 'int32']]);
    expect(signature(text).outputs.slice(0, 2)).toEqual([
      ['last_hidden_state', 'float16'],
      ['pooler_output', 'float16'],
    ]);
    expect(signature(unet).inputs).toEqual([
      ['sample', 'float16'],
      ['timestep', 'float16'],
      ['encoder_hidden_states', 'float16'],
    ]);
    expect(signature(unet).outputs).toEqual([['out_sample', 'float16']]);
    expect(signature(decoder)).toEqual({ inputs: [['latent_sample', 'float16']], outputs: [['sample', 'float16']] });
    expect(signature(encoder)).toEqual({ inputs: [['sample', 'float16']], outputs: [['latent_sample', 'float16']] });

    const fp32Text = await openSession(join(base.dir, 'text_encoder', 'model.onnx'));
    const fp32Unet = await openSession(join(base.dir, 'unet', 'model.onnx'));
    const ids = new ort.Tensor('int32', promptIds(2, 77, [6, 9]), [2, 77]);
    const [half, full] = [await text.run({ input_ids: ids }), await fp32Text.run({ input_ids: ids })];
    expect(summary(values(half.last_hidden_state)).nonFinite).toBe(0);
    expect(maxAbsDifference(values(half.last_hidden_state), values(full.last_hidden_state))).toBeLessThan(0.1);

    const inputs = (type: 'float32' | 'float16') => ({
      sample: randomTensor(type, [2, 4, 8, 8], 'fp16-sample'),
      timestep: floatTensor(type, [801, 801], [2]),
      encoder_hidden_states: floatTensor(type, values(full.last_hidden_state), [2, 77, 32]),
    });
    const halfNoise = values((await unet.run(inputs('float16'))).out_sample);
    const fullNoise = values((await fp32Unet.run(inputs('float32'))).out_sample);
    expect(summary(halfNoise).nonFinite).toBe(0);
    expect(maxAbsDifference(halfNoise, fullNoise)).toBeLessThan(0.1);

    const { sample } = await decoder.run({ latent_sample: randomTensor('float16', [1, 4, 8, 8], 'fp16-latents', 5) });
    expect(sample.dims).toEqual([1, 3, 64, 64]);
    expect(summary(values(sample)).nonFinite).toBe(0);
  });
});
