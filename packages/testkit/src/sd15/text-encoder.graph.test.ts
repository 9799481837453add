import * as ort from 'onnxruntime-node';
import { readInitializer, readModel } from '@kiln/onnx';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinySd15Model } from './make-sd15-model.js';
import { maxAbsDifference, openSession, promptIds, signature, summary, values } from './ort.test-helpers.js';

const LAYERS = 3;
const HIDDEN = 32;
let dir: string;
let session: ort.InferenceSession;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-testkit-text-'));
  await makeTinySd15Model(dir, { seed: 7, textLayers: LAYERS, crossAttentionDim: HIDDEN });
  session = await openSession(join(dir, 'text_encoder', 'model.onnx'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function encode(ids: Int32Array, batch: number, sequence: number) {
  return session.run({ input_ids: new ort.Tensor('int32', ids, [batch, sequence]) });
}

/** LayerNorm over the last axis in float64 (torch.nn.LayerNorm, eps 1e-5). */
function layerNorm(x: Float32Array, width: number, weight: Float32Array, bias: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let row = 0; row < x.length / width; row++) {
    const slice = x.subarray(row * width, (row + 1) * width);
    const mean = slice.reduce((a, b) => a + b, 0) / width;
    const variance = slice.reduce((a, b) => a + (b - mean) ** 2, 0) / width;
    for (let i = 0; i < width; i++)
      out[row * width + i] = ((slice[i] - mean) / Math.sqrt(variance + 1e-5)) * weight[i] + bias[i];
  }
  return out;
}

describe('text encoder', () => {
  it('has diffusers’ input/output names and types, plus hidden_states.0..L', () => {
    const hiddenStates = Array.from({ length: LAYERS + 1 }, (_, i): [string, string] => [
      `hidden_states.${i}`,
      'float32',
    ]);
    expect(signature(session)).toEqual({
      inputs: [['input_ids', 'int32']],
      outputs: [['last_hidden_state', 'float32'], ['pooler_output', 'float32'], ...hiddenStates],
    });
  });

  for (const batch of [1, 2]) {
    it(`encodes batch ${batch} × 77 tokens to finite, varied embeddings`, async () => {
      const out = await encode(promptIds(batch, 77, [5, 12]), batch, 77);
      expect(out.last_hidden_state.dims).toEqual([batch, 77, HIDDEN]);
      expect(out.pooler_output.dims).toEqual([batch, HIDDEN]);
      for (let i = 0; i <= LAYERS; i++) expect(out[`hidden_states.${i}`].dims).toEqual([batch, 77, HIDDEN]);
      for (const tensor of Object.values(out)) {
        const { std, nonFinite } = summary(values(tensor));
        expect(nonFinite).toBe(0);
        expect(std).toBeGreaterThan(0.1);
        expect(std).toBeLessThan(10);
      }
    });
  }

  it('pools the final state at the EOS position (argmax of input_ids), as CLIP does', async () => {
    const ids = promptIds(2, 77, [5, 12]);
    const out = await encode(ids, 2, 77);
    const last = values(out.last_hidden_state);
    const pooled = values(out.pooler_output);
    for (let b = 0; b < 2; b++) {
      const row = Array.from(ids.subarray(b * 77, (b + 1) * 77));
      const eos = row.indexOf(Math.max(...row));
      expect(eos).toBe([5, 12][b] + 1);
      const expected = last.subarray((b * 77 + eos) * HIDDEN, (b * 77 + eos + 1) * HIDDEN);
      expect(maxAbsDifference(pooled.subarray(b * HIDDEN, (b + 1) * HIDDEN), expected)).toBe(0);
    }
  });

  it('keeps text_model.final_layer_norm.* so hidden_states.L through it gives last_hidden_state', async () => {
    const model = await readModel(join(dir, 'text_encoder', 'model.onnx'));
    const weight = readInitializer(model, 'text_model.final_layer_norm.weight');
    const bias = readInitializer(model, 'text_model.final_layer_norm.bias');
    expect(weight).toHaveLength(HIDDEN);
    const out = await encode(promptIds(2, 77, [5, 12]), 2, 77);
    const normalized = layerNorm(values(out[`hidden_states.${LAYERS}`]), HIDDEN, weight, bias);
    expect(maxAbsDifference(normalized, values(out.last_hidden_state))).toBeLessThan(1e-4);
    // The earlier states differ from it: clip_skip has something to skip.
    const penultimate = layerNorm(values(out[`hidden_states.${LAYERS - 1}`]), HIDDEN, weight, bias);
    expect(maxAbsDifference(penultimate, values(out.last_hidden_state))).toBeGreaterThan(0.1);
  });

  it('is causal: a later token does not change earlier positions', async () => {
    const ids = promptIds(1, 77, [12]);
    const changed = Int32Array.from(ids);
    changed[8] = 4000;
    const [a, b] = [
      values((await encode(ids, 1, 77)).last_hidden_state),
      values((await encode(changed, 1, 77)).last_hidden_state),
    ];
    expect(maxAbsDifference(a.subarray(0, 8 * HIDDEN), b.subarray(0, 8 * HIDDEN))).toBe(0);
    expect(maxAbsDifference(a.subarray(8 * HIDDEN), b.subarray(8 * HIDDEN))).toBeGreaterThan(0.01);
  });

  it('accepts sequences shorter than 77 tokens', async () => {
    const out = await encode(promptIds(1, 10, [4]), 1, 10);
    expect(out.last_hidden_state.dims).toEqual([1, 10, HIDDEN]);
  });
});
