/**
 * Prompt → CLIP embeddings, A1111-style: weighted fragments, 75-token chunks encoded separately
 * and concatenated along the sequence axis, the negative prompt padded to as many chunks.
 * A plain prompt of ≤ 75 tokens is one chunk with all weights 1, i.e. exactly diffusers' embeddings.
 */
import { MAX_PROMPT_CHUNKS } from '@kiln/memory';
import { readInitializer, readModel } from '@kiln/onnx';
import { RenderInputError } from '../../errors.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import { applyTokenWeights, padChunkCount, promptToChunks, type PromptChunk } from '../../prompt/index.js';

const CHUNK_TOKENS = 77;
/** The most 75-token chunks a prompt may take (@kiln/memory: the API's estimate counts on it). */
export const DEFAULT_MAX_PROMPT_CHUNKS = MAX_PROMPT_CHUNKS;
const LAYER_NORM_EPS = 1e-5;

export interface PromptEmbeddings {
  /** [1, tokens, dim] */
  data: Float32Array;
  tokens: number;
  dim: number;
}

const finalLayerNormCache = new WeakMap<Sd15Model, Promise<{ weight: Float32Array; bias: Float32Array }>>();

function finalLayerNorm(model: Sd15Model) {
  let cached = finalLayerNormCache.get(model);
  if (!cached) {
    cached = readModel(model.textEncoder.path).then((proto) => ({
      weight: readInitializer(proto, 'text_model.final_layer_norm.weight'),
      bias: readInitializer(proto, 'text_model.final_layer_norm.bias'),
    }));
    finalLayerNormCache.set(model, cached);
  }
  return cached;
}

function layerNormInPlace(x: Float32Array, dim: number, weight: Float32Array, bias: Float32Array): void {
  for (let row = 0; row < x.length; row += dim) {
    let mean = 0;
    for (let i = 0; i < dim; i++) mean += x[row + i];
    mean /= dim;
    let variance = 0;
    for (let i = 0; i < dim; i++) variance += (x[row + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / dim + LAYER_NORM_EPS);
    for (let i = 0; i < dim; i++) x[row + i] = (x[row + i] - mean) * inv * weight[i] + bias[i];
  }
}

/**
 * Runs the text encoder over every chunk in one call. `clipSkip` follows A1111/OctoAI: 1 = the last
 * layer, 2 = the penultimate layer (then the final layer norm is applied, as A1111 and diffusers do).
 */
async function encodeChunks(model: Sd15Model, chunks: PromptChunk[], clipSkip: number): Promise<PromptEmbeddings> {
  const ids = new Int32Array(chunks.length * CHUNK_TOKENS);
  chunks.forEach((c, i) => ids.set(c.ids, i * CHUNK_TOKENS));
  let outputName = model.textOutputName;
  if (clipSkip > 1) {
    if (model.hiddenStateCount === 0) {
      throw new RenderInputError(
        'input_rejected',
        "this model's text encoder does not expose hidden states, so clip_skip must be 1",
        'clip_skip',
      );
    }
    const layers = model.hiddenStateCount - 1;
    if (clipSkip > layers) {
      throw new RenderInputError('input_rejected', `clip_skip must be at most ${layers} for this model`, 'clip_skip');
    }
    outputName = `hidden_states.${layers + 1 - clipSkip}`;
  }
  const out = await model.textEncoder.run({ input_ids: { data: ids, dims: [chunks.length, CHUNK_TOKENS] } }, [
    outputName,
  ]);
  const hidden = out[outputName];
  const data = hidden.data as Float32Array;
  const dim = hidden.dims[2];
  if (clipSkip > 1) {
    const { weight, bias } = await finalLayerNorm(model);
    layerNormInPlace(data, dim, weight, bias);
  }
  const perChunk = CHUNK_TOKENS * dim;
  chunks.forEach((chunk, i) =>
    applyTokenWeights(data.subarray(i * perChunk, (i + 1) * perChunk), chunk.weights, CHUNK_TOKENS, dim),
  );
  return { data, tokens: chunks.length * CHUNK_TOKENS, dim };
}

function checkChunkCount(chunks: readonly PromptChunk[], maxChunks: number, field: string): void {
  if (chunks.length <= maxChunks) return;
  throw new RenderInputError(
    'input_rejected',
    `${field} takes ${chunks.length} chunks of 75 tokens (each BREAK starts one); at most ${maxChunks} are allowed`,
    field,
  );
}

export async function encodePrompts(
  model: Sd15Model,
  prompt: string,
  negativePrompt: string,
  clipSkip: number,
  maxChunks = DEFAULT_MAX_PROMPT_CHUNKS,
): Promise<{ positive: PromptEmbeddings; negative: PromptEmbeddings }> {
  const positiveChunks = promptToChunks(model.tokenizer, prompt);
  checkChunkCount(positiveChunks, maxChunks, 'prompt');
  const negativeChunks = promptToChunks(model.tokenizer, negativePrompt);
  checkChunkCount(negativeChunks, maxChunks, 'negative_prompt');
  const count = Math.max(positiveChunks.length, negativeChunks.length);
  const positive = await encodeChunks(model, padChunkCount(model.tokenizer, positiveChunks, count), clipSkip);
  const negative = await encodeChunks(model, padChunkCount(model.tokenizer, negativeChunks, count), clipSkip);
  return { positive, negative };
}

/** The 77-token chunks each prompt was padded to (for the memory plan). */
export const chunkCount = (prompts: { positive: PromptEmbeddings }) => prompts.positive.tokens / CHUNK_TOKENS;
