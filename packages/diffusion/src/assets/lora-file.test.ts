/** Key formats and scales: kohya's `.alpha`, PEFT's `lora_adapter_metadata` (alpha_pattern, rsLoRA), defaults. */
import { describe, expect, it } from 'vitest';
import { encodeSafetensors, type SafetensorsTensor } from '@kiln/testkit';
import { AssetError } from './asset-error.js';
import { parseLora } from './lora-file.js';
import { parseSafetensors } from './safetensors.js';

const matrix = (shape: number[]): SafetensorsTensor => ({
  dtype: 'F32',
  shape,
  values: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5),
});
const scalar = (value: number): SafetensorsTensor => ({ dtype: 'F16', shape: [], values: Float32Array.of(value) });
const parse = (tensors: Record<string, SafetensorsTensor>, metadata?: Record<string, string>) =>
  parseLora(parseSafetensors(encodeSafetensors(tensors, metadata)), 'test.safetensors');

describe('parseLora', () => {
  it('scales kohya layers by alpha / rank, and by 1 without alpha', () => {
    const lora = parse({
      'lora_unet_a_to_q.lora_down.weight': matrix([4, 8]),
      'lora_unet_a_to_q.lora_up.weight': matrix([8, 4]),
      'lora_unet_a_to_q.alpha': scalar(2),
      'lora_te_text_model_q_proj.lora_down.weight': matrix([2, 8]),
      'lora_te_text_model_q_proj.lora_up.weight': matrix([8, 2]),
    });
    expect(lora.layers.map(({ key, component, target, scale }) => ({ key, component, target, scale }))).toEqual([
      { key: 'lora_unet_a_to_q', component: 'unet', target: { kind: 'kohya', flatName: 'a_to_q' }, scale: 0.5 },
      {
        key: 'lora_te_text_model_q_proj',
        component: 'text_encoder',
        target: { kind: 'kohya', flatName: 'text_model_q_proj' },
        scale: 1,
      },
    ]);
  });

  it('scales PEFT layers from lora_adapter_metadata: lora_alpha, alpha_pattern, use_rslora; 1 without metadata', () => {
    const tensors = {
      'unet.down.attn1.to_q.lora_A.weight': matrix([4, 8]),
      'unet.down.attn1.to_q.lora_B.weight': matrix([8, 4]),
      'unet.down.attn1.to_k.lora_A.weight': matrix([4, 8]),
      'unet.down.attn1.to_k.lora_B.weight': matrix([8, 4]),
      'text_encoder.text_model.q_proj.lora_A.weight': matrix([4, 8]),
      'text_encoder.text_model.q_proj.lora_B.weight': matrix([8, 4]),
    };
    const metadata = {
      'unet.lora_alpha': 8,
      'unet.r': 4,
      'unet.alpha_pattern': { 'attn1.to_k': 2 },
      'text_encoder.lora_alpha': 8,
      'text_encoder.use_rslora': true,
    };
    const scales = (lora: ReturnType<typeof parse>) => Object.fromEntries(lora.layers.map((l) => [l.key, l.scale]));
    expect(scales(parse(tensors, { lora_adapter_metadata: JSON.stringify(metadata) }))).toEqual({
      'unet.down.attn1.to_q': 2,
      'unet.down.attn1.to_k': 0.5,
      'text_encoder.text_model.q_proj': 4, // 8 / sqrt(4)
    });
    expect(Object.values(scales(parse(tensors)))).toEqual([1, 1, 1]);
  });

  it('reports keys it does not understand and refuses malformed layers', () => {
    const lora = parse({
      'lora_unet_a.lora_down.weight': matrix([2, 4]),
      'lora_unet_a.lora_up.weight': matrix([4, 2]),
      'lora_unet_a.hada_w1_a': matrix([2, 2]),
    });
    expect(lora.unrecognized).toEqual(['lora_unet_a.hada_w1_a']);
    const refuse = (tensors: Record<string, SafetensorsTensor>, message: RegExp) => {
      expect(() => parse(tensors)).toThrow(AssetError);
      expect(() => parse(tensors)).toThrow(message);
    };
    refuse({ 'lora_unet_a.lora_down.weight': matrix([2, 4]) }, /test\.safetensors: lora_unet_a has no up matrix/);
    refuse(
      { 'unet.a.lora_A.weight': matrix([2, 4]), 'unet.a.lora_B.weight': matrix([4, 3]) },
      /up \[4, 3\] and down \[2, 4\] disagree on the rank/,
    );
    refuse({ 'model.diffusion_model.x': matrix([1]) }, /no LoRA layers found/);
    expect(() =>
      parseLora(
        parseSafetensors(
          encodeSafetensors(
            { 'unet.a.lora_A.weight': matrix([2, 4]), 'unet.a.lora_B.weight': matrix([4, 2]) },
            { lora_adapter_metadata: '[1]' },
          ),
        ),
        'meta.safetensors',
      ),
    ).toThrow(/meta\.safetensors: __metadata__\.lora_adapter_metadata is not a JSON object/);
  });
});
