/**
 * Tiny LoRAs for Kiln's test models: the same random weights written four ways (kohya and
 * diffusers/PEFT keys, F32 and F16), so tests can check that every format merges identically.
 * Targets are found in the model's own graph by node name, independently of the merger.
 */
import { float16ToFloat32, float32ToFloat16, readModel } from '@kiln/onnx';
import type { ModelProto } from '@kiln/onnx';
import { join } from 'node:path';
import { uniformValues } from '../prng.js';
import { encodeSafetensors, type SafetensorsTensor } from './safetensors.writer.js';

export interface TinyLoraLayer {
  component: 'unet' | 'text_encoder';
  /** PyTorch module path, e.g. `down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q`. */
  module: string;
  upShape: number[];
  downShape: number[];
  up: Float32Array;
  down: Float32Array;
}

export interface TinyLora {
  rank: number;
  alpha: number;
  layers: TinyLoraLayer[];
  kohyaF32: Uint8Array;
  kohyaF16: Uint8Array;
  peftF32: Uint8Array;
  peftF16: Uint8Array;
}

export interface TinyLoraOptions {
  rank?: number;
  alpha?: number;
  seed?: number;
  /** Modules that get a layer (default: attention projections, 1×1 proj_in, 3×3 resnet conv1, CLIP attention). */
  include?: RegExp;
  /** Standard deviation of the up and down values (default 0.1). */
  std?: number;
}

const DEFAULT_TARGETS =
  /(attn[12]\.to_(q|k|v|out\.0)|attentions\.\d+\.proj_in|resnets\.\d+\.conv1|self_attn\.(q|k|v|out)_proj)$/;

/** Writes nothing: returns the LoRA's tensors and its four encodings for the model in `modelDir`. */
export async function makeTinyLora(modelDir: string, options: TinyLoraOptions = {}): Promise<TinyLora> {
  const { rank = 4, alpha = 2, seed = 7, include = DEFAULT_TARGETS, std = 0.1 } = options;
  const layers: TinyLoraLayer[] = [];
  for (const component of ['unet', 'text_encoder'] as const) {
    const model = await readModel(join(modelDir, component, 'model.onnx'), { loadExternalData: false });
    for (const { module, out, columns, kernel } of targets(model, include)) {
      const key = `${component}.${module}`;
      // F16-representable values, so the F32 and F16 files hold the same numbers.
      const values = (name: string, count: number) =>
        float16ToFloat32(float32ToFloat16(uniformValues(seed, `${key}.${name}`, count, std)));
      layers.push({
        component,
        module,
        downShape: kernel ? [rank, columns / (kernel[0] * kernel[1]), ...kernel] : [rank, columns],
        upShape: kernel ? [out, rank, 1, 1] : [out, rank],
        down: values('down', rank * columns),
        up: values('up', out * rank),
      });
    }
  }
  const encode = (format: 'kohya' | 'peft', dtype: 'F32' | 'F16') => {
    const tensors: Record<string, SafetensorsTensor> = {};
    for (const layer of layers) {
      if (format === 'kohya') {
        const base = `lora_${layer.component === 'unet' ? 'unet' : 'te'}_${layer.module.replaceAll('.', '_')}`;
        tensors[`${base}.lora_down.weight`] = { dtype, shape: layer.downShape, values: layer.down };
        tensors[`${base}.lora_up.weight`] = { dtype, shape: layer.upShape, values: layer.up };
        tensors[`${base}.alpha`] = { dtype, shape: [], values: Float32Array.of(alpha) };
      } else {
        const base = `${layer.component}.${layer.module}`;
        tensors[`${base}.lora_A.weight`] = { dtype, shape: layer.downShape, values: layer.down };
        tensors[`${base}.lora_B.weight`] = { dtype, shape: layer.upShape, values: layer.up };
      }
    }
    const metadata = {
      format: 'pt',
      ...(format === 'peft' ? { lora_adapter_metadata: peftMetadata(rank, alpha) } : {}),
    };
    return encodeSafetensors(tensors, metadata);
  };
  return {
    rank,
    alpha,
    layers,
    kohyaF32: encode('kohya', 'F32'),
    kohyaF16: encode('kohya', 'F16'),
    peftF32: encode('peft', 'F32'),
    peftF16: encode('peft', 'F16'),
  };
}

/** diffusers' `lora_adapter_metadata`: each component's PEFT config fields, prefixed by the component. */
function peftMetadata(rank: number, alpha: number): string {
  return JSON.stringify({
    'unet.r': rank,
    'unet.lora_alpha': alpha,
    'text_encoder.r': rank,
    'text_encoder.lora_alpha': alpha,
  });
}

interface Target {
  module: string;
  out: number;
  columns: number;
  kernel?: [number, number];
}

function targets(model: ModelProto, include: RegExp): Target[] {
  const dims = new Map((model.graph?.initializer ?? []).map((tensor) => [tensor.name, tensor.dims ?? []]));
  const found: Target[] = [];
  for (const node of model.graph?.node ?? []) {
    const match = /^\/(.+)\/(MatMul|Conv)$/.exec(node.name ?? '');
    const weight = dims.get(node.input?.[1]);
    if (!match || !weight) continue;
    const module = match[1].replaceAll('/', '.');
    if (!include.test(module)) continue;
    if (match[2] === 'MatMul') found.push({ module, out: weight[1], columns: weight[0] });
    else
      found.push({
        module,
        out: weight[0],
        columns: weight[1] * weight[2] * weight[3],
        kernel: [weight[2], weight[3]],
      });
  }
  return found;
}
