import { mkdtemp, copyFile, mkdir, writeFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll } from 'vitest';
import { ClipTokenizer } from './clip-tokenizer.js';

const fixtures = fileURLToPath(new URL('../../fixtures/tokenizer/', import.meta.url));
const clipDir = join(fixtures, 'clip');

interface ReferenceCase {
  prompt: string;
  hf_slow_no_ftfy: { input_ids_77: number[]; untruncated_len_with_bos_eos: number; bpe_tokens: string[] };
}
const reference = JSON.parse(readFileSync(join(fixtures, 'clip-tokenizer.json'), 'utf8')) as {
  primary_variant: string;
  cases: ReferenceCase[];
};

let tokenizer: ClipTokenizer;
beforeAll(async () => {
  tokenizer = await ClipTokenizer.fromDirectory(clipDir);
});

describe('ClipTokenizer against transformers (slow, no ftfy)', () => {
  it('uses the variant diffusers runs by default', () => {
    expect(reference.primary_variant).toBe('hf_slow_no_ftfy');
    expect(reference.cases.length).toBeGreaterThanOrEqual(12);
  });

  it.each(reference.cases.map((c) => [JSON.stringify(c.prompt).slice(0, 60), c] as const))(
    'matches input_ids for %s',
    (_name, c) => {
      const expected = c.hf_slow_no_ftfy;
      expect(tokenizer.tokenize(c.prompt)).toEqual(expected.bpe_tokens);
      expect(tokenizer.encode(c.prompt).length + 2).toBe(expected.untruncated_len_with_bos_eos);
      expect(Array.from(tokenizer.encodePadded(c.prompt))).toEqual(expected.input_ids_77);
    },
  );
});

describe('ClipTokenizer special tokens', () => {
  it('reads SD1.5 special tokens: bos 49406, eos 49407, pad = eos, 77 long', () => {
    expect(tokenizer.bosId).toBe(49406);
    expect(tokenizer.eosId).toBe(49407);
    expect(tokenizer.padId).toBe(49407);
    expect(tokenizer.maxLength).toBe(77);
    expect(tokenizer.tokenId(',</w>')).toBe(267);
  });

  it('keeps a literal special token whole, even glued to punctuation', () => {
    // Cut out before cleanup, so "(" stays its own word rather than "(<|".
    expect(tokenizer.tokenize('(<|endoftext|>')).toEqual(['(</w>', '<|endoftext|>']);
    expect(tokenizer.encode('a <|startoftext|> b')).toEqual([
      tokenizer.tokenId('a</w>'),
      49406,
      tokenizer.tokenId('b</w>'),
    ]);
  });

  it('truncates to 75 content ids and always ends with eos', () => {
    const ids = tokenizer.encodePadded(Array.from({ length: 100 }, () => 'cat').join(' '));
    expect(ids.length).toBe(77);
    expect(ids[0]).toBe(49406);
    expect(Array.from(ids.slice(1, 76))).toEqual(new Array(75).fill(2368));
    expect(ids[76]).toBe(49407);
  });
});

describe('ClipTokenizer.fromDirectory', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'kiln-tokenizer-'));
    return () => rm(tmp, { recursive: true, force: true });
  });

  async function copyVocab(to: string): Promise<void> {
    await mkdir(to, { recursive: true });
    await copyFile(join(clipDir, 'vocab.json'), join(to, 'vocab.json'));
    await copyFile(join(clipDir, 'merges.txt'), join(to, 'merges.txt'));
  }

  it('reads a model folder through its tokenizer/ subfolder, with defaults when configs are absent', async () => {
    const model = join(tmp, 'model');
    await copyVocab(join(model, 'tokenizer'));
    const fromModel = await ClipTokenizer.fromDirectory(model);
    expect(fromModel.padId).toBe(49407);
    expect(fromModel.maxLength).toBe(77);
    expect(Array.from(fromModel.encodePadded('a photo of a cat'))).toEqual(
      Array.from(tokenizer.encodePadded('a photo of a cat')),
    );
  });

  it('pads with the configured pad token (SD2 / SDXL second encoder: "!")', async () => {
    const sd2 = join(tmp, 'sd2');
    await copyVocab(sd2);
    await writeFile(join(sd2, 'special_tokens_map.json'), JSON.stringify({ pad_token: '!' }));
    const sd2Tokenizer = await ClipTokenizer.fromDirectory(sd2);
    expect(sd2Tokenizer.padId).toBe(0);
    const ids = Array.from(sd2Tokenizer.encodePadded('a cat'));
    expect(ids.slice(0, 4)).toEqual([49406, 320, 2368, 49407]);
    expect(ids.slice(4)).toEqual(new Array(73).fill(0));
  });
});
