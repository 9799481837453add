import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll } from 'vitest';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { emptyChunk, padChunkCount, promptToChunks, type ChunkTokenizer } from './weighted-chunks.js';

const fixtures = fileURLToPath(new URL('../../fixtures/tokenizer/', import.meta.url));
const reference = JSON.parse(readFileSync(join(fixtures, 'clip-tokenizer.json'), 'utf8')) as {
  cases: Array<{ prompt: string; hf_slow_no_ftfy: { input_ids_77: number[]; untruncated_len_with_bos_eos: number } }>;
};

let tokenizer: ClipTokenizer;
beforeAll(async () => {
  tokenizer = await ClipTokenizer.fromDirectory(join(fixtures, 'clip'));
});

const words = (word: string, count: number): string => new Array(count).fill(word).join(' ');
const content = (ids: Int32Array, eos: number): number[] => {
  const end = ids.indexOf(eos, 1);
  return Array.from(ids.slice(1, end));
};

describe('promptToChunks on plain prompts', () => {
  const plain = reference.cases.filter(
    (c) => c.hf_slow_no_ftfy.untruncated_len_with_bos_eos <= 77 && !/[([:]|BREAK/.test(c.prompt),
  );

  it('has plain reference prompts to check, the empty one included', () => {
    expect(plain.length).toBeGreaterThanOrEqual(8);
    expect(plain.some((c) => c.prompt === '')).toBe(true);
  });

  it.each(plain.map((c) => [JSON.stringify(c.prompt).slice(0, 50), c] as const))(
    'gives diffusers input_ids and unit weights for %s',
    (_name, c) => {
      const chunks = promptToChunks(tokenizer, c.prompt);
      expect(chunks).toHaveLength(1);
      expect(Array.from(chunks[0].ids)).toEqual(c.hf_slow_no_ftfy.input_ids_77);
      expect(Array.from(chunks[0].ids)).toEqual(Array.from(tokenizer.encodePadded(c.prompt)));
      expect(Array.from(chunks[0].weights)).toEqual(new Array(77).fill(1));
    },
  );

  it('treats stray colons and closing brackets as text, still matching diffusers', () => {
    const prompt = 'background: city) at night] 3:2';
    const chunks = promptToChunks(tokenizer, prompt);
    expect(chunks).toHaveLength(1);
    expect(Array.from(chunks[0].ids)).toEqual(Array.from(tokenizer.encodePadded(prompt)));
    expect(Array.from(chunks[0].weights)).toEqual(new Array(77).fill(1));
  });

  it('splits a long prompt into 75-token chunks that together hold every token', () => {
    const long = reference.cases.find((c) => c.hf_slow_no_ftfy.untruncated_len_with_bos_eos > 150)!;
    const all = tokenizer.encode(long.prompt);
    const chunks = promptToChunks(tokenizer, long.prompt);
    expect(chunks).toHaveLength(Math.ceil(all.length / 75));
    for (const chunk of chunks) {
      expect(chunk.ids).toHaveLength(77);
      expect(chunk.ids[0]).toBe(tokenizer.bosId);
      expect(chunk.ids[76]).toBe(tokenizer.eosId);
    }
    expect(chunks.flatMap((c) => content(c.ids, tokenizer.eosId))).toEqual(all);
    // The first chunk is what diffusers would have kept after truncation.
    expect(Array.from(chunks[0].ids)).toEqual(long.hf_slow_no_ftfy.input_ids_77);
  });
});

describe('promptToChunks comma backtrack and BREAK', () => {
  it('ends a full chunk at a comma at most 20 tokens back and moves the rest on', () => {
    // 70 × cat, ",", 10 × dog: at 75 tokens the comma is 5 back, so chunk 1 ends after it.
    const chunks = promptToChunks(tokenizer, `${words('cat', 70)}, ${words('dog', 10)}`);
    const [cat, comma, dog] = ['cat</w>', ',</w>', 'dog</w>'].map((s) => tokenizer.tokenId(s)!);
    expect(chunks).toHaveLength(2);
    expect(content(chunks[0].ids, tokenizer.eosId)).toEqual([...new Array(70).fill(cat), comma]);
    expect(Array.from(chunks[0].ids.slice(72))).toEqual(new Array(5).fill(tokenizer.eosId));
    expect(content(chunks[1].ids, tokenizer.eosId)).toEqual(new Array(10).fill(dog));
  });

  it('does not backtrack to a comma more than 20 tokens back, nor when disabled', () => {
    const farComma = `${words('cat', 50)}, ${words('dog', 40)}`;
    const all = tokenizer.encode(farComma);
    const chunks = promptToChunks(tokenizer, farComma);
    expect(content(chunks[0].ids, tokenizer.eosId)).toEqual(all.slice(0, 75));
    expect(content(chunks[1].ids, tokenizer.eosId)).toEqual(all.slice(75));

    const nearComma = `${words('cat', 70)}, ${words('dog', 10)}`;
    const plain = promptToChunks(tokenizer, nearComma, { commaPaddingBacktrack: 0 });
    expect(content(plain[0].ids, tokenizer.eosId)).toEqual(tokenizer.encode(nearComma).slice(0, 75));
  });

  it('starts a new chunk at BREAK', () => {
    const chunks = promptToChunks(tokenizer, 'a red cat BREAK a blue dog');
    expect(chunks.map((c) => content(c.ids, tokenizer.eosId))).toEqual([
      tokenizer.encode('a red cat'),
      tokenizer.encode('a blue dog'),
    ]);
  });
});

describe('promptToChunks weights', () => {
  it('gives each token the weight of its run, and 1 to bos/eos/padding', () => {
    const chunks = promptToChunks(tokenizer, 'a (cat:1.5) [dog]');
    expect(chunks).toHaveLength(1);
    expect(content(chunks[0].ids, tokenizer.eosId)).toEqual([
      ...tokenizer.encode('a'),
      ...tokenizer.encode('cat'),
      ...tokenizer.encode('dog'),
    ]);
    const expected = new Float32Array(77).fill(1);
    expected[2] = 1.5;
    expected[3] = 1 / 1.1;
    expect(chunks[0].weights).toEqual(expected);
  });

  it('tokenizes each weighted run on its own, as A1111 does', () => {
    // "(high)lands" is two runs, so "high" and "lands" are separate words.
    const chunk = promptToChunks(tokenizer, '(high)lands')[0];
    expect(content(chunk.ids, tokenizer.eosId)).toEqual([...tokenizer.encode('high'), ...tokenizer.encode('lands')]);
  });
});

describe('padding with a pad token other than eos (SD2)', () => {
  it('puts pad after the first eos, matching diffusers padding', async () => {
    const sd2: ChunkTokenizer = {
      encode: (text) => tokenizer.encode(text),
      tokenId: (symbol) => tokenizer.tokenId(symbol),
      bosId: tokenizer.bosId,
      eosId: tokenizer.eosId,
      padId: 0,
      maxLength: 77,
    };
    const ids = Array.from(promptToChunks(sd2, 'a photo of a cat')[0].ids);
    expect(ids).toEqual([
      ...Array.from(tokenizer.encodePadded('a photo of a cat').slice(0, 7)),
      ...new Array(70).fill(0),
    ]);
    expect(Array.from(emptyChunk(sd2).ids)).toEqual([tokenizer.bosId, tokenizer.eosId, ...new Array(75).fill(0)]);
  });
});

describe('padChunkCount', () => {
  it('appends empty-prompt chunks up to the count and never removes any', () => {
    const negative = promptToChunks(tokenizer, 'blurry');
    const padded = padChunkCount(tokenizer, negative, 3);
    expect(padded).toHaveLength(3);
    expect(padded[0]).toBe(negative[0]);
    const empty = promptToChunks(tokenizer, '')[0];
    for (const chunk of padded.slice(1)) {
      expect(chunk.ids).toEqual(empty.ids);
      expect(chunk.weights).toEqual(empty.weights);
    }
    expect(padChunkCount(tokenizer, padded, 1)).toHaveLength(3);
  });
});
