/**
 * Prompt → SD3's two conditioning tensors, exactly as diffusers' `StableDiffusion3Pipeline.encode_prompt`:
 *
 * - CLIP-L(prompt), CLIP-G(prompt_2): each CLIP's penultimate hidden states (`hidden_states[-2]`,
 *   the raw layer output, no final layer norm; `clip_skip` k takes `hidden_states[-(k + 2)]`),
 *   77 tokens, concatenated on the feature axis and zero-padded on the right to T5's width;
 * - T5(prompt_3), `max_sequence_length` tokens (zeros when the model has no T5), appended on the
 *   sequence axis → [77 + L, joint_attention_dim];
 * - pooled: CLIP-L's `text_embeds` then CLIP-G's → [pooled_projection_dim].
 *
 * The negative prompt is encoded the same way (an empty one too), but always without clip_skip.
 */
import type { Sd3ClipEncoder, Sd3Model } from '../../models/sd3-model.js';

export const CLIP_TOKENS = 77;

/** One text's conditioning. */
export interface Sd3Embeddings {
  /** [tokens, dim], row-major. */
  embeds: Float32Array;
  tokens: number;
  dim: number;
  /** [pooledDim] */
  pooled: Float32Array;
}

export interface Sd3PromptTexts {
  prompt: string;
  prompt2: string;
  prompt3: string;
}

async function encodeClip(clip: Sd3ClipEncoder, text: string, clipSkip: number) {
  const ids = clip.tokenizer.encodePadded(text);
  const layer = `hidden_states.${clip.hiddenStateCount - 2 - clipSkip}`;
  const out = await clip.session.run({ input_ids: { data: ids, dims: [1, ids.length] } }, ['text_embeds', layer]);
  return { hidden: out[layer].data as Float32Array, pooled: out.text_embeds.data as Float32Array };
}

async function encodeT5(model: Sd3Model, text: string, length: number): Promise<Float32Array> {
  if (!model.t5) return new Float32Array(length * model.jointAttentionDim);
  const { session, tokenizer, outputName } = model.t5;
  const ids = tokenizer.encodePadded(text, length);
  const out = await session.run({ input_ids: { data: ids, dims: [1, length] } }, [outputName]);
  return out[outputName].data as Float32Array;
}

/** Encodes one prompt triple: CLIP-L, CLIP-G, then T5 (diffusers' order). */
export async function encodeSd3Prompt(
  model: Sd3Model,
  texts: Sd3PromptTexts,
  clipSkip: number,
  maxSequenceLength: number,
): Promise<Sd3Embeddings> {
  const l = await encodeClip(model.clipL, texts.prompt, clipSkip);
  const g = await encodeClip(model.clipG, texts.prompt2, clipSkip);
  const t5 = await encodeT5(model, texts.prompt3, maxSequenceLength);
  const dim = model.jointAttentionDim;
  const [dimL, dimG] = [model.clipL.hiddenSize, model.clipG.hiddenSize];
  const tokens = CLIP_TOKENS + maxSequenceLength;
  const embeds = new Float32Array(tokens * dim);
  for (let r = 0; r < CLIP_TOKENS; r++) {
    embeds.set(l.hidden.subarray(r * dimL, (r + 1) * dimL), r * dim);
    embeds.set(g.hidden.subarray(r * dimG, (r + 1) * dimG), r * dim + dimL);
  }
  embeds.set(t5, CLIP_TOKENS * dim);
  const pooled = new Float32Array(l.pooled.length + g.pooled.length);
  pooled.set(l.pooled);
  pooled.set(g.pooled, l.pooled.length);
  if (pooled.length !== model.pooledProjectionDim) {
    throw new Error(
      `${model.dir}: the CLIP projections give ${pooled.length} pooled values, ` +
        `the transformer takes ${model.pooledProjectionDim}`,
    );
  }
  return { embeds, tokens, dim, pooled };
}

/** diffusers' defaults: prompt_2/prompt_3 fall back to prompt, and the same for the negative texts. */
export function promptTexts(prompt: string, prompt2?: string, prompt3?: string): Sd3PromptTexts {
  return { prompt, prompt2: prompt2 || prompt, prompt3: prompt3 || prompt };
}
