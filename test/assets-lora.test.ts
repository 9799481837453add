/**
 * LoRA merging on Kiln's tiny model and on diffusers' own tiny ONNX export: the merged weights
 * equal W + m·(alpha/rank)·(up @ down) computed here independently in float64, every format of one
 * LoRA merges to the same bytes, weight 0 renders the base image exactly, and the patched session
 * really runs the merged weights (it matches a model written to disk with them).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AssetError,
  DiffusionThread,
  OnnxModel,
  Renderer,
  loadPatchedModel,
  loadSd15Model,
  loadSd15ModelWithAssets,
  mergeLoras,
  openComponent,
  parseLora,
  parseSafetensors,
  textToImage,
  type LoraFile,
  type ModelComponent,
  type TextToImageParams,
} from '@kiln/diffusion';
import { encodeSafetensors, makeTinyLora, type TinyLora } from '@kiln/testkit';
import { GraphBuilder, float32ToFloat16, readModel, readInitializer, writeModel, type TensorProto } from '@kiln/onnx';
import { ensureTestModel } from './harness.js';

const DIFFUSERS_TINY = path.resolve(import.meta.dirname, 'fixtures', 'diffusers-tiny-sd15');
const params: TextToImageParams = {
  prompt: 'a photo of a cat',
  negativePrompt: '',
  sampler: 'DDIM',
  steps: 3,
  cfgScale: 7.5,
  width: 64,
  height: 64,
  seeds: [42],
  clipSkip: 1,
  microBatchSize: 4,
};

let modelDir: string;
let work: string;
let lora: TinyLora;
let components: { unet: ModelComponent; text_encoder: ModelComponent };
const parse = (bytes: Uint8Array, name: string): LoraFile => parseLora(parseSafetensors(bytes, name), name);

beforeAll(async () => {
  modelDir = await ensureTestModel('tiny-sd15');
  work = await mkdtemp(path.join(tmpdir(), 'kiln-lora-'));
  lora = await makeTinyLora(modelDir, { rank: 4, alpha: 2 });
  components = {
    unet: await openComponent(path.join(modelDir, 'unet', 'model.onnx')),
    text_encoder: await openComponent(path.join(modelDir, 'text_encoder', 'model.onnx')),
  };
});
afterAll(() => rm(work, { recursive: true, force: true }));

/** W + Σ m·(alpha/rank)·(up @ down) for one module, in float64, laid out like the ONNX weight. */
function expectedWeight(
  base: Float32Array,
  dims: number[],
  layers: Array<{ l: TinyLora['layers'][number]; m: number; scale: number }>,
) {
  const out = Float64Array.from(base);
  const matmul = dims.length === 2; // MatMul weights are stored [in, out]
  for (const { l, m, scale } of layers) {
    const [outs, rank] = l.upShape;
    const columns = l.down.length / rank;
    for (let o = 0; o < outs; o++) {
      for (let j = 0; j < columns; j++) {
        let sum = 0;
        for (let k = 0; k < rank; k++) sum += l.up[o * rank + k] * l.down[k * columns + j];
        out[matmul ? j * outs + o : o * columns + j] += m * scale * sum;
      }
    }
  }
  return out;
}

function patchValues(tensor: TensorProto): Float32Array {
  return new Float32Array(tensor.rawData!.slice().buffer);
}

describe('LoRA merge', () => {
  it('matches every tiny LoRA layer (linear, 1×1 and 3×3 conv, text encoder) and follows the formula', async () => {
    const m = 0.8;
    const result = await mergeLoras(components, [{ lora: parse(lora.kohyaF32, 'k.safetensors'), weight: m }]);
    expect(result.unmatched).toEqual([]);
    expect(result.mergedLayers).toBe(lora.layers.length);
    expect(lora.layers.some((l) => l.downShape.length === 4 && l.downShape[2] === 3)).toBe(true);
    const full = {
      unet: await readModel(path.join(modelDir, 'unet', 'model.onnx')),
      text_encoder: await readModel(path.join(modelDir, 'text_encoder', 'model.onnx')),
    };
    let worst = 0;
    for (const layer of lora.layers) {
      const target = components[layer.component].modules.get(layer.module)!;
      const name = target.initializer.name!;
      const merged = patchValues(result.patches[layer.component]!.get(name)!);
      const expected = expectedWeight(readInitializer(full[layer.component], name), target.initializer.dims!, [
        { l: layer, m, scale: lora.alpha / lora.rank },
      ]);
      for (let i = 0; i < merged.length; i++)
        worst = Math.max(worst, Math.abs(merged[i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
    }
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(2e-7); // float32 rounding of the sum
  });

  it('merges kohya and PEFT, F32 and F16 copies of one LoRA to identical bytes', async () => {
    const merged = await Promise.all(
      (['kohyaF32', 'kohyaF16', 'peftF32', 'peftF16'] as const).map((format) =>
        mergeLoras(components, [{ lora: parse(lora[format], format), weight: -0.6 }]),
      ),
    );
    for (const other of merged.slice(1)) {
      for (const component of ['unet', 'text_encoder'] as const) {
        const a = merged[0].patches[component]!;
        const b = other.patches[component]!;
        expect([...b.keys()]).toEqual([...a.keys()]);
        for (const [name, tensor] of a)
          expect(Buffer.from(b.get(name)!.rawData!).equals(Buffer.from(tensor.rawData!))).toBe(true);
      }
    }
  });

  it('composes two LoRAs in order, and a weight of 0 changes nothing', async () => {
    const second = await makeTinyLora(modelDir, { rank: 2, alpha: 1, seed: 99 });
    const a = parse(lora.peftF32, 'a');
    const b = parse(second.kohyaF32, 'b');
    const both = await mergeLoras(components, [
      { lora: a, weight: 0.5 },
      { lora: b, weight: -1.5 },
    ]);
    const layer = lora.layers[0];
    const layerB = second.layers.find((l) => l.module === layer.module)!;
    const target = components[layer.component].modules.get(layer.module)!;
    const base = readInitializer(
      await readModel(path.join(modelDir, layer.component, 'model.onnx')),
      target.initializer.name!,
    );
    const expected = expectedWeight(base, target.initializer.dims!, [
      { l: layer, m: 0.5, scale: 0.5 },
      { l: layerB, m: -1.5, scale: 0.5 },
    ]);
    const merged = patchValues(both.patches[layer.component]!.get(target.initializer.name!)!);
    for (let i = 0; i < merged.length; i++) expect(Math.abs(merged[i] - expected[i])).toBeLessThan(1e-6);

    const none = await mergeLoras(components, [{ lora: a, weight: 0 }]);
    expect(none.patches).toEqual({});
  });

  it('reports keys that match nothing and refuses layers of the wrong shape', async () => {
    const extra = encodeSafetensors({
      'lora_unet_no_such_block.lora_down.weight': { dtype: 'F32', shape: [1, 4], values: new Float32Array(4) },
      'lora_unet_no_such_block.lora_up.weight': { dtype: 'F32', shape: [4, 1], values: new Float32Array(4) },
      'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q.hada_w1_a': {
        dtype: 'F32',
        shape: [1],
        values: new Float32Array(1),
      },
    });
    const result = await mergeLoras(components, [{ lora: parse(extra, 'odd.safetensors'), weight: 1 }]);
    expect(result.unmatched).toEqual([
      {
        lora: 'odd.safetensors',
        key: 'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q.hada_w1_a',
        reason: 'not a kohya or PEFT LoRA key',
      },
      { lora: 'odd.safetensors', key: 'lora_unet_no_such_block', reason: 'no unet module matches' },
    ]);

    const wrong = encodeSafetensors({
      'unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight': {
        dtype: 'F32',
        shape: [2, 7],
        values: new Float32Array(14),
      },
      'unet.mid_block.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight': {
        dtype: 'F32',
        shape: [64, 2],
        values: new Float32Array(128),
      },
    });
    await expect(mergeLoras(components, [{ lora: parse(wrong, 'wrong.safetensors'), weight: 1 }])).rejects.toThrow(
      /wrong\.safetensors: .*does not fit mid_block\.[^ ]*\.attn1\.to_q \(weight \[64, 64\], stored transposed\)/,
    );
    await expect(
      mergeLoras(components, [{ lora: parse(wrong, 'wrong.safetensors'), weight: 1 }]),
    ).rejects.toBeInstanceOf(AssetError);
  });

  it("matches diffusers' own ONNX export, whose Linear weights are onnx::MatMul_NNNN", async () => {
    const real = await makeTinyLora(DIFFUSERS_TINY);
    const unet = await openComponent(path.join(DIFFUSERS_TINY, 'unet', 'model.onnx'));
    const textEncoder = await openComponent(path.join(DIFFUSERS_TINY, 'text_encoder', 'model.onnx'));
    const result = await mergeLoras({ unet, text_encoder: textEncoder }, [
      { lora: parse(real.peftF16, 'real'), weight: 1 },
    ]);
    expect(result.unmatched).toEqual([]);
    expect(result.mergedLayers).toBe(real.layers.length);
    expect([...result.patches.unet!.keys()]).toContain('onnx::MatMul_3668'); // down_blocks.1 … attn1.to_q
  });
  it('merges into a float16 model, rounding the merged weight once to float16', async () => {
    const dir16 = await ensureTestModel('tiny-sd15-fp16', { fp16: true });
    const lora16 = await makeTinyLora(dir16);
    const unet16 = await openComponent(path.join(dir16, 'unet', 'model.onnx'));
    const text16 = await openComponent(path.join(dir16, 'text_encoder', 'model.onnx'));
    const result = await mergeLoras({ unet: unet16, text_encoder: text16 }, [
      { lora: parse(lora16.peftF16, 'p'), weight: 1 },
    ]);
    expect(result.unmatched).toEqual([]);
    const full = await readModel(path.join(dir16, 'unet', 'model.onnx'));
    let worstUlps = 0;
    for (const layer of lora16.layers.filter((l) => l.component === 'unet')) {
      const target = unet16.modules.get(layer.module)!;
      const name = target.initializer.name!;
      const merged = new Uint16Array(result.patches.unet!.get(name)!.rawData!.slice().buffer);
      const scale = lora16.alpha / lora16.rank;
      const expected = expectedWeight(readInitializer(full, name), target.initializer.dims!, [
        { l: layer, m: 1, scale },
      ]);
      const expectedBits = float32ToFloat16(Float32Array.from(expected));
      for (let i = 0; i < merged.length; i++) worstUlps = Math.max(worstUlps, Math.abs(merged[i] - expectedBits[i]));
    }
    expect(worstUlps).toBeLessThanOrEqual(1); // float32 accumulation, then one float16 rounding
    const session = await loadPatchedModel(path.join(dir16, 'unet', 'model.onnx'), unet16.model, result.patches.unet!);
    expect(session.inputType('sample')).toBe('float16');
    const out = await session.run({
      sample: { data: new Float32Array(4 * 8 * 8).fill(0.5), dims: [1, 4, 8, 8] },
      timestep: { data: Float32Array.of(10), dims: [1] },
      encoder_hidden_states: { data: new Float32Array(77 * 32).fill(0.1), dims: [1, 77, 32] },
    });
    expect(Object.values(out)[0].data.every(Number.isFinite)).toBe(true);
    await session.dispose();
  });
});

describe('LoRA merge, pinned to numpy', () => {
  // A two-node graph named like an export: a Linear as MatMul over its transposed [in, out] weight, and a 3×3 Conv.
  // Expected values: numpy, W_torch + m·(alpha/rank)·(up @ down) in float64, transposed back and rounded to float32.
  const Q_MERGED = [
    -0.4124999940395355, -0.24687500298023224, -0.46406251192092896, -0.375, 0.03124999813735485, 0.02187499962747097,
    -0.07499999552965164, 0.11250000447034836, 0.4750000238418579, 0.75, 0.34687501192092896, 0.47968751192092896,
  ];
  const CONV_MERGED_HEAD = [-0.44999998807907104, -0.43333330750465393, -0.4166666567325592];
  const CONV_MERGED_TAIL = [0.8833333253860474, 0.9555555582046509, 1.0277777910232544];

  it('merges a kohya linear LoRA into a transposed MatMul weight and a PEFT LoCon into a 3×3 Conv', async () => {
    const g = new GraphBuilder();
    const x = g.addInput('x', 'float32', [1, 2, 4]);
    const image = g.addInput('image', 'float32', [1, 2, 3, 3]);
    const weightQ = Float32Array.from({ length: 12 }, (_, i) => i / 10 - 0.5);
    const weightC = Float32Array.from({ length: 36 }, (_, i) => i / 36 - 0.5);
    const q = g.scope('blk', () =>
      g.scope('to_q', () => g.op('MatMul', [x, g.addInitializer('onnx::MatMul_1', 'float32', [4, 3], weightQ)])),
    );
    const c = g.scope('conv', () =>
      g.op('Conv', [image, g.addInitializer('conv.weight', 'float32', [2, 2, 3, 3], weightC)], {
        kernel_shape: [3, 3],
      }),
    );
    g.addOutput('q', 'float32', [1, 2, 3], q);
    g.addOutput('c', 'float32', [1, 2, 1, 1], c);
    const file = path.join(work, 'pinned', 'model.onnx');
    await g.write(file);

    const kohya = encodeSafetensors({
      'lora_unet_blk_to_q.lora_up.weight': {
        dtype: 'F32',
        shape: [3, 2],
        values: Float32Array.of(0.5, -1, 0.25, 0.75, -0.5, 0.125),
      },
      'lora_unet_blk_to_q.lora_down.weight': {
        dtype: 'F32',
        shape: [2, 4],
        values: Float32Array.of(1, 0, -1, 0.5, 0.25, 0.5, 0, -0.75),
      },
      'lora_unet_blk_to_q.alpha': { dtype: 'F32', shape: [], values: Float32Array.of(1) },
    });
    const peft = encodeSafetensors(
      {
        'unet.conv.lora_A.weight': {
          dtype: 'F32',
          shape: [1, 2, 3, 3],
          values: Float32Array.from({ length: 18 }, (_, i) => i / 18 - 0.25),
        },
        'unet.conv.lora_B.weight': { dtype: 'F32', shape: [2, 1, 1, 1], values: Float32Array.of(0.5, -2) },
      },
      { lora_adapter_metadata: JSON.stringify({ 'unet.r': 1, 'unet.lora_alpha': 1 }) },
    );
    const unet = await openComponent(file);
    const result = await mergeLoras({ unet }, [
      { lora: parse(kohya, 'kohya'), weight: 0.7 },
      { lora: parse(peft, 'peft'), weight: -0.4 },
    ]);
    expect(result.unmatched).toEqual([]);
    expect([...patchValues(result.patches.unet!.get('onnx::MatMul_1')!)]).toEqual(Q_MERGED);
    const conv = [...patchValues(result.patches.unet!.get('conv.weight')!)];
    expect(conv.slice(0, 3)).toEqual(CONV_MERGED_HEAD);
    expect(conv.slice(-3)).toEqual(CONV_MERGED_TAIL);
  });
});

describe('patched sessions', () => {
  it('run the merged weights, with the untouched ones still read from weights.pb', async () => {
    const merged = await mergeLoras(components, [{ lora: parse(lora.kohyaF32, 'k'), weight: 1 }]);
    const unetPath = path.join(modelDir, 'unet', 'model.onnx');
    const patched = await loadPatchedModel(unetPath, components.unet.model, merged.patches.unet!);
    // The same weights written out as a model file, loaded the ordinary way.
    const full = await readModel(unetPath);
    full.graph!.initializer = full.graph!.initializer!.map((t) => merged.patches.unet!.get(t.name!) ?? t);
    const written = path.join(work, 'unet', 'model.onnx');
    await writeModel(written, full, { externalData: { location: 'weights.pb' } });
    const reference = await OnnxModel.load(written);
    const base = await OnnxModel.load(unetPath);
    const feeds = {
      sample: { data: Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.sin(i)), dims: [1, 4, 8, 8] },
      timestep: { data: Float32Array.of(500), dims: [1] },
      encoder_hidden_states: { data: Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i)), dims: [1, 77, 32] },
    };
    // Past the inline limit, every initializer goes through ORT's in-memory external-data table.
    const inMemory = await loadPatchedModel(
      unetPath,
      components.unet.model,
      merged.patches.unet!,
      {},
      { inlineLimitBytes: 0 },
    );
    const [a, b, c, d] = await Promise.all([
      patched.run(feeds),
      reference.run(feeds),
      base.run(feeds),
      inMemory.run(feeds),
    ]);
    const name = Object.keys(a)[0];
    expect(Buffer.from(a[name].data.buffer).equals(Buffer.from(b[name].data.buffer))).toBe(true);
    expect(Buffer.from(d[name].data.buffer).equals(Buffer.from(b[name].data.buffer))).toBe(true);
    expect(Buffer.from(a[name].data.buffer).equals(Buffer.from(c[name].data.buffer))).toBe(false);
    await Promise.all([patched.dispose(), reference.dispose(), base.dispose(), inMemory.dispose()]);
  });

  it('render the base image exactly at weight 0 and a different one at weight 1', async () => {
    const file = path.join(work, 'tiny-lora.safetensors');
    await writeFile(file, lora.peftF32);
    const base = await loadSd15Model(modelDir);
    const zero = await loadSd15ModelWithAssets(modelDir, { loras: [{ file, weight: 0 }] });
    const one = await loadSd15ModelWithAssets(modelDir, { loras: [{ file, weight: 1 }] });
    expect(one.report.mergedLoraLayers).toBe(lora.layers.length);
    expect(one.report.unmatchedLoraKeys).toEqual([]);
    const [imgBase, imgZero, imgOne] = [
      await textToImage(base, params),
      await textToImage(zero.model, params),
      await textToImage(one.model, params),
    ];
    expect(Buffer.from(imgZero.images[0].pixels).equals(Buffer.from(imgBase.images[0].pixels))).toBe(true);
    expect(Buffer.from(imgOne.images[0].pixels).equals(Buffer.from(imgBase.images[0].pixels))).toBe(false);
    await Promise.all([base.dispose(), zero.model.dispose(), one.model.dispose()]);
  });

  it('are cached per asset set by the renderer: same set, same sessions; another weight, another model', async () => {
    const file = path.join(work, 'cached-lora.safetensors');
    await writeFile(file, lora.kohyaF16);
    const renderer = new Renderer({ maxLoadedModels: 3 });
    try {
      const request = (weight?: number) => ({
        family: 'sd15' as const,
        modelDir,
        params,
        ...(weight === undefined ? {} : { assets: { loras: [{ file, weight }] } }),
      });
      const first = await renderer.render(request(0.7));
      const again = await renderer.render(request(0.7));
      const plain = await renderer.render(request());
      const other = await renderer.render(request(-0.7));
      expect(renderer['models'].size).toBe(3);
      expect(Buffer.from(again.images[0].pixels).equals(Buffer.from(first.images[0].pixels))).toBe(true);
      expect(Buffer.from(plain.images[0].pixels).equals(Buffer.from(first.images[0].pixels))).toBe(false);
      expect(Buffer.from(other.images[0].pixels).equals(Buffer.from(first.images[0].pixels))).toBe(false);
    } finally {
      await renderer.dispose();
    }
  });

  it('report "loading assets" as a stage before the first step, only when the set is not loaded yet', async () => {
    const file = path.join(work, 'staged-lora.safetensors');
    await writeFile(file, lora.kohyaF32);
    const thread = new DiffusionThread();
    try {
      const events = () => {
        const seen: string[] = [];
        return { seen, hooks: { onStage: (stage: string) => seen.push(stage), onProgress: () => seen.push('step') } };
      };
      const request = { family: 'sd15' as const, modelDir, params, assets: { loras: [{ file, weight: 0.5 }] } };
      const first = events();
      await thread.render(request, first.hooks);
      expect(first.seen[0]).toBe('loading_assets');
      expect(first.seen.slice(1).every((e) => e === 'step')).toBe(true);
      const again = events();
      await thread.render(request, again.hooks);
      expect(again.seen).not.toContain('loading_assets');
      expect(again.seen.length).toBeGreaterThan(0);
    } finally {
      await thread.close();
    }
  });

  it('keep asset sets loaded while their weights fit modelCacheBytes, least recently used released first', async () => {
    const file = path.join(work, 'budget-lora.safetensors');
    await writeFile(file, lora.kohyaF32);
    const { memoryProfile } = await import('@kiln/diffusion');
    const base = await loadSd15Model(modelDir);
    const { weightsBytes } = await memoryProfile(base);
    await base.dispose();
    const renderer = new Renderer({ modelCacheBytes: Math.floor(weightsBytes * 2.5) });
    try {
      const request = (weight: number) => ({
        family: 'sd15' as const,
        modelDir,
        params,
        assets: { loras: [{ file, weight }] },
      });
      for (const weight of [0.3, 0.4, 0.5]) await renderer.render(request(weight));
      const keys = [...renderer['models'].keys()];
      expect(keys).toHaveLength(2);
      expect(keys.some((k) => k.includes('0.3'))).toBe(false);
    } finally {
      await renderer.dispose();
    }
  });
});
