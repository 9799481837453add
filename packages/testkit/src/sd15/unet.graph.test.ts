import type * as ort from 'onnxruntime-node';
import { decodeModel, findInitializer } from '@kiln/onnx';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from './make-sd15-model.js';
import {
  floatTensor,
  maxAbsDifference,
  openSession,
  randomTensor,
  signature,
  summary,
  values,
} from './ort.test-helpers.js';

const D = 32;
let dir: string;
let session: ort.InferenceSession;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-testkit-unet-'));
  await makeTinySd15Model(dir, { seed: 3 });
  session = await openSession(join(dir, 'unet', 'model.onnx'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function unetInputs(batch: number, height: number, width: number, sequence: number, t = 500, channels = 4) {
  return {
    sample: randomTensor('float32', [batch, channels, height, width], `sample-${batch}-${height}-${width}-${channels}`),
    timestep: floatTensor('float32', new Array<number>(batch).fill(t), [batch]),
    encoder_hidden_states: randomTensor('float32', [batch, sequence, D], `context-${batch}-${sequence}`),
  };
}

describe('unet', () => {
  it('has diffusers’ input/output names and types', () => {
    expect(signature(session)).toEqual({
      inputs: [
        ['sample', 'float32'],
        ['timestep', 'float32'],
        ['encoder_hidden_states', 'float32'],
      ],
      outputs: [['out_sample', 'float32']],
    });
  });

  it('keeps its weights in unet/weights.pb, as diffusers’ export does', async () => {
    const model = decodeModel(await readFile(join(dir, 'unet', 'model.onnx')));
    const convIn = findInitializer(model, 'conv_in.weight');
    expect(convIn?.dims).toEqual([32, 4, 3, 3]);
    expect(convIn?.externalData?.find((entry) => entry.key === 'location')?.value).toBe('weights.pb');
  });

  // 64×64 and 64×96 images (latents 8×8 and 8×12); 77 tokens, and 154 for a prompt over 75 tokens.
  for (const [batch, height, width, sequence] of [
    [1, 8, 8, 77],
    [2, 8, 8, 77],
    [2, 8, 12, 77],
    [2, 8, 8, 154],
    [1, 12, 8, 231],
    [1, 9, 7, 77], // odd latent sides (72×56 px): upsampling follows the skip's size, as diffusers' eager UNet
  ]) {
    it(`predicts noise for batch ${batch}, latent ${height}×${width}, ${sequence} tokens`, async () => {
      const { out_sample } = await session.run(unetInputs(batch, height, width, sequence));
      expect(out_sample.dims).toEqual([batch, 4, height, width]);
      const { std, nonFinite } = summary(values(out_sample));
      expect(nonFinite).toBe(0);
      expect(std).toBeGreaterThan(0.05);
      expect(std).toBeLessThan(10);
    });
  }

  it('depends on the timestep and on the text embedding', async () => {
    const base = unetInputs(2, 8, 8, 77, 900);
    const reference = values((await session.run(base)).out_sample);
    const otherTime = values(
      (await session.run({ ...base, timestep: floatTensor('float32', [100, 100], [2]) })).out_sample,
    );
    const otherText = values(
      (await session.run({ ...base, encoder_hidden_states: randomTensor('float32', [2, 77, D], 'other-context') }))
        .out_sample,
    );
    expect(maxAbsDifference(reference, otherTime)).toBeGreaterThan(1e-3);
    expect(maxAbsDifference(reference, otherText)).toBeGreaterThan(1e-3);
  });

  it('treats batch items independently (a CFG batch equals two single calls)', async () => {
    const pair = unetInputs(2, 8, 8, 77);
    const together = values((await session.run(pair)).out_sample);
    const sampleData = values(pair.sample);
    const contextData = values(pair.encoder_hidden_states);
    const first = await session.run({
      sample: floatTensor('float32', sampleData.subarray(0, 4 * 64), [1, 4, 8, 8]),
      timestep: floatTensor('float32', [500], [1]),
      encoder_hidden_states: floatTensor('float32', contextData.subarray(0, 77 * D), [1, 77, D]),
    });
    expect(maxAbsDifference(values(first.out_sample), together.subarray(0, 4 * 64))).toBeLessThan(1e-5);
  });
});
