/**
 * Textual inversion with diffusers' semantics, checked through the real text encoder: an
 * embedding whose vectors are existing token rows makes `a <trigger>` encode exactly as the words
 * those rows belong to, prompts without the trigger encode bit for bit as before, and the three
 * file formats read the same vectors. Also the VAE swap.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AssetError,
  ClipTokenizer,
  loadSd15Model,
  loadSd15ModelWithAssets,
  parseEmbedding,
  type Sd15Model,
} from '@kiln/diffusion';
import { encodeTorchFile, makeTinyEmbedding, makeTinyLora, makeTinySd15Model } from '@kiln/testkit';
import { readInitializer, readModel } from '@kiln/onnx';
import { ensureTestModel } from './harness.js';

let modelDir: string;
let work: string;
let base: Sd15Model;
let tokenRows: Float32Array;
const DIM = 32;

beforeAll(async () => {
  modelDir = await ensureTestModel('tiny-sd15');
  work = await mkdtemp(path.join(tmpdir(), 'kiln-ti-'));
  base = await loadSd15Model(modelDir);
  const textEncoder = await readModel(path.join(modelDir, 'text_encoder', 'model.onnx'));
  tokenRows = readInitializer(textEncoder, 'text_model.embeddings.token_embedding.weight');
});
afterAll(async () => {
  await base?.dispose();
  await rm(work, { recursive: true, force: true });
});

/** The text encoder's last_hidden_state for a prompt. */
async function encode(model: Sd15Model, prompt: string): Promise<Float32Array> {
  const ids = model.tokenizer.encodePadded(prompt);
  const out = await model.textEncoder.run({ input_ids: { data: ids, dims: [1, ids.length] } });
  return out[model.textOutputName].data as Float32Array;
}

/** The token-embedding rows of words, as an embedding's vectors. */
function rowsOf(tokenizer: ClipTokenizer, words: string[]): Float32Array {
  const out = new Float32Array(words.length * DIM);
  words.forEach((word, i) => {
    const id = tokenizer.tokenId(`${word}</w>`)!;
    out.set(tokenRows.subarray(id * DIM, (id + 1) * DIM), i * DIM);
  });
  return out;
}

async function writeEmbedding(name: string, values: Float32Array, vectors: number): Promise<string> {
  const file = path.join(work, name);
  await writeFile(
    file,
    encodeTorchFile({ string_to_param: { '*': { tensor: values, shape: [vectors, DIM] } }, name, step: 1 }),
  );
  return file;
}

describe('textual inversion', () => {
  it('reads A1111 .pt, A1111 safetensors and diffusers {token: vector} files alike', () => {
    for (const vectors of [1, 3]) {
      const embedding = makeTinyEmbedding(DIM, vectors);
      const a = parseEmbedding(embedding.a1111Pt, 'a.pt');
      const b = parseEmbedding(embedding.a1111Safetensors, 'b.safetensors');
      const c = parseEmbedding(embedding.diffusersSafetensors, 'c.safetensors');
      for (const parsed of [a, b, c]) expect(parsed).toMatchObject({ vectors, dim: DIM, values: embedding.values });
      expect(c.token).toBe('<tiny-concept>');
    }
  });

  it('expands a multi-vector trigger, numbers new tokens after the vocabulary, and encodes their vectors', async () => {
    const file = await writeEmbedding('red-dog.pt', rowsOf(base.tokenizer, ['red', 'dog']), 2);
    const { model, report } = await loadSd15ModelWithAssets(modelDir, {
      textualInversions: [{ file, trigger: '<rd>' }],
    });
    try {
      expect(report.addedTokens).toEqual({ '<rd>': 49408, '<rd>_1': 49409 });
      expect([...model.tokenizer.encode('a <rd> on grass')]).toEqual([
        base.tokenizer.tokenId('a</w>'),
        49408,
        49409,
        base.tokenizer.tokenId('on</w>'),
        base.tokenizer.tokenId('grass</w>'),
      ]);
      // Rows equal to "red" and "dog" make the trigger encode exactly as those words.
      const withTrigger = await encode(model, 'a <rd> on grass');
      const words = await encode(base, 'a red dog on grass');
      expect(Buffer.from(withTrigger.buffer).equals(Buffer.from(words.buffer))).toBe(true);
      // Prompts without the trigger: bit for bit unchanged.
      for (const prompt of ['a photo of a cat', '', 'rd <r d> red dog']) {
        expect(
          Buffer.from((await encode(model, prompt)).buffer).equals(Buffer.from((await encode(base, prompt)).buffer)),
        ).toBe(true);
      }
    } finally {
      await model.dispose();
    }
  });

  it('combines with a text-encoder LoRA: the LoRA applies to every prompt, the new rows only to triggers', async () => {
    const loraFile = path.join(work, 'te-lora.safetensors');
    await writeFile(loraFile, (await makeTinyLora(modelDir, { include: /self_attn\.(q|v)_proj$/ })).kohyaF32);
    const file = await writeEmbedding('dog.pt', rowsOf(base.tokenizer, ['dog']), 1);
    const loras = [{ file: loraFile, weight: 1 }];
    const both = await loadSd15ModelWithAssets(modelDir, { loras, textualInversions: [{ file, trigger: '<d>' }] });
    const loraOnly = await loadSd15ModelWithAssets(modelDir, { loras });
    try {
      const same = async (a: Sd15Model, pa: string, b: Sd15Model, pb: string) =>
        Buffer.from((await encode(a, pa)).buffer).equals(Buffer.from((await encode(b, pb)).buffer));
      expect(await same(both.model, 'a <d> in snow', loraOnly.model, 'a dog in snow')).toBe(true);
      expect(await same(both.model, 'a cat in snow', loraOnly.model, 'a cat in snow')).toBe(true);
      expect(await same(both.model, 'a cat in snow', base, 'a cat in snow')).toBe(false);
    } finally {
      await both.model.dispose();
      await loraOnly.model.dispose();
    }
  });

  it('takes the token a diffusers file names; refuses known tokens and vectors of the wrong width', async () => {
    const embedding = makeTinyEmbedding(DIM, 1, { token: '<concept>' });
    const file = path.join(work, 'learned_embeds.safetensors');
    await writeFile(file, embedding.diffusersSafetensors);
    const { model, report } = await loadSd15ModelWithAssets(modelDir, { textualInversions: [{ file }] });
    expect(report.addedTokens).toEqual({ '<concept>': 49408 });
    await model.dispose();

    await expect(loadSd15ModelWithAssets(modelDir, { textualInversions: [{ file, trigger: 'cat' }] })).rejects.toThrow(
      /token "cat" is already in the tokenizer/,
    );
    const wide = path.join(work, 'wide.pt');
    await writeFile(wide, makeTinyEmbedding(DIM * 2, 1).a1111Pt);
    const refusal = loadSd15ModelWithAssets(modelDir, { textualInversions: [{ file: wide, trigger: '<w>' }] });
    await expect(refusal).rejects.toBeInstanceOf(AssetError);
    await expect(refusal).rejects.toThrow(/wide\.pt: vectors of width 64 do not fit the text encoder \(32\)/);
  });
});

describe('VAE swap', () => {
  it("decodes with another folder's VAE, keeping the model's encoder when that folder has none", async () => {
    const other = path.join(work, 'other-model');
    await makeTinySd15Model(other, { seed: 5 });
    await rm(path.join(other, 'vae_encoder'), { recursive: true });
    const { model } = await loadSd15ModelWithAssets(modelDir, { vae: other });
    try {
      expect(model.vaeDecoder.path).toBe(path.join(other, 'vae_decoder', 'model.onnx'));
      expect(model.vaeEncoder?.path).toBe(path.join(modelDir, 'vae_encoder', 'model.onnx'));
      const latents = {
        latent_sample: { data: Float32Array.from({ length: 4 * 8 * 8 }, (_, i) => Math.sin(i)), dims: [1, 4, 8, 8] },
      };
      const [swapped, own] = [await model.vaeDecoder.run(latents), await base.vaeDecoder.run(latents)];
      expect(Buffer.from(swapped.sample.data.buffer).equals(Buffer.from(own.sample.data.buffer))).toBe(false);
    } finally {
      await model.dispose();
    }
    await expect(loadSd15ModelWithAssets(modelDir, { vae: work })).rejects.toThrow(/has no vae_decoder\/model\.onnx/);
  });
});
