import { isBreak, parsePromptAttention } from './parse-attention.js';

/** One text-encoder input: `maxLength` (77) token ids and a weight per token. */
export interface PromptChunk {
  ids: Int32Array;
  weights: Float32Array;
}

/** What chunking needs from a tokenizer (`ClipTokenizer` has it all). */
export interface ChunkTokenizer {
  encode(text: string): number[];
  tokenId(symbol: string): number | undefined;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** Ids per chunk, bos and eos included (77): chunks hold `maxLength - 2` prompt tokens. */
  readonly maxLength: number;
}

export interface ChunkOptions {
  /**
   * When a chunk fills up and its last comma is at most this many tokens back, the tokens
   * after that comma move to the next chunk (A1111's `comma_padding_backtrack`, default 20;
   * 0 disables it).
   */
  commaPaddingBacktrack?: number;
}

/** The symbol A1111 looks up for the comma backtrack (`vocab.get(',</w>')`). */
const COMMA_SYMBOL = ',</w>';

/**
 * Turns a prompt into text-encoder chunks, as AUTOMATIC1111's `tokenize_line`
 * (modules/sd_hijack_clip.py): the prompt is split into weighted runs
 * (`parsePromptAttention`), each run is tokenized on its own, and the tokens are packed
 * into chunks of 75 (`maxLength - 2`). `BREAK` starts a new chunk; a full chunk whose last
 * comma is within `commaPaddingBacktrack` tokens ends at that comma. Each chunk is
 * `[bos] + tokens + eos padding + [eos]`, and when the pad token differs from eos (SD2)
 * everything after the first eos becomes pad (A1111's `process_tokens`). Weights are 1 for
 * bos, eos and padding.
 *
 * There is always at least one chunk. A prompt of at most 75 tokens without weighting syntax
 * gives exactly diffusers' `input_ids` with all weights 1.
 */
export function promptToChunks(tokenizer: ChunkTokenizer, prompt: string, options: ChunkOptions = {}): PromptChunk[] {
  const backtrack = options.commaPaddingBacktrack ?? 20;
  const chunkLength = tokenizer.maxLength - 2;
  const commaId = tokenizer.tokenId(COMMA_SYMBOL);
  const chunks: PromptChunk[] = [];
  let tokens: number[] = [];
  let weights: number[] = [];
  let lastComma = -1;

  const closeChunk = (): void => {
    chunks.push(buildChunk(tokenizer, tokens, weights));
    tokens = [];
    weights = [];
    lastComma = -1;
  };

  for (const part of parsePromptAttention(prompt)) {
    if (isBreak(part)) {
      closeChunk();
      continue;
    }
    for (const token of tokenizer.encode(part.text)) {
      if (token === commaId) {
        lastComma = tokens.length;
      } else if (
        backtrack !== 0 &&
        tokens.length === chunkLength &&
        lastComma !== -1 &&
        tokens.length - lastComma <= backtrack
      ) {
        const cut = lastComma + 1;
        const movedTokens = tokens.slice(cut);
        const movedWeights = weights.slice(cut);
        tokens = tokens.slice(0, cut);
        weights = weights.slice(0, cut);
        closeChunk();
        tokens = movedTokens;
        weights = movedWeights;
      }
      if (tokens.length === chunkLength) closeChunk();
      tokens.push(token);
      weights.push(part.weight);
    }
  }
  if (tokens.length > 0 || chunks.length === 0) closeChunk();
  return chunks;
}

/** The chunk of an empty prompt: bos, eos, then padding; all weights 1 (A1111's `empty_chunk`). */
export function emptyChunk(tokenizer: ChunkTokenizer): PromptChunk {
  return buildChunk(tokenizer, [], []);
}

/**
 * Appends empty chunks until there are `count`, so that a negative prompt has as many chunks
 * as its positive prompt and both embeddings have the same length (A1111 pads the shorter
 * conditioning with the empty prompt's). Never removes chunks.
 */
export function padChunkCount(tokenizer: ChunkTokenizer, chunks: readonly PromptChunk[], count: number): PromptChunk[] {
  const padded = [...chunks];
  while (padded.length < count) padded.push(emptyChunk(tokenizer));
  return padded;
}

function buildChunk(tokenizer: ChunkTokenizer, tokens: readonly number[], weights: readonly number[]): PromptChunk {
  const length = tokenizer.maxLength;
  const ids = new Int32Array(length).fill(tokenizer.eosId);
  const chunkWeights = new Float32Array(length).fill(1);
  ids[0] = tokenizer.bosId;
  ids.set(tokens, 1);
  chunkWeights.set(weights, 1);
  if (tokenizer.padId !== tokenizer.eosId) {
    const firstEos = ids.indexOf(tokenizer.eosId);
    ids.fill(tokenizer.padId, firstEos + 1);
  }
  return { ids, weights: chunkWeights };
}
