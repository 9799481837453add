/**
 * The T5 Unigram tokenizer against transformers' `T5TokenizerFast` on the tiny SD3 model's
 * `tokenizer_3/tokenizer.json` (fixtures/tokenizer/t5-tokenizer.json, recorded with the pipeline's
 * call: padding="max_length", max_length=256, truncation=True).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { T5Tokenizer } from './t5-tokenizer.js';

interface RefCase {
  text: string;
  ids_no_eos: number[];
  pipeline_ids_256: number[];
}
const fixtures = fileURLToPath(new URL('../../fixtures/tokenizer/', import.meta.url));
const refs = JSON.parse(readFileSync(`${fixtures}t5-tokenizer.json`, 'utf8')).cases as RefCase[];

let tokenizer: T5Tokenizer;
beforeAll(async () => {
  tokenizer = await T5Tokenizer.fromDirectory(`${fixtures}t5`);
});

/** The reference rows are cut after the eos when short; the rest is pad 0. */
function padded(ids: number[]): number[] {
  return [...ids, ...new Array(256 - ids.length).fill(0)];
}

describe('T5Tokenizer (Unigram, tokenizer.json) against T5TokenizerFast', () => {
  it('has every recorded edge case', () => expect(refs.length).toBe(17));

  it.each(refs.map((r) => [JSON.stringify(r.text).slice(0, 40), r] as const))('%s', (_, ref) => {
    expect(tokenizer.encode(ref.text)).toEqual(ref.ids_no_eos);
    expect(Array.from(tokenizer.encodePadded(ref.text, 256))).toEqual(padded(ref.pipeline_ids_256));
  });

  it('the README examples: DeLorean, unknown fusion, the empty prompt', () => {
    const row = (text: string) =>
      Array.from(tokenizer.encodePadded(text, 256)).filter((id, i, all) => all.slice(i).some((x) => x));
    expect(row('A still frame of a DeLorean in times square, rainy night')).toEqual([
      21, 12, 13, 6, 4, 22, 27, 28, 10, 14, 15, 100, 16, 17, 1,
    ]);
    expect(row('blurry, low quality ~~')).toEqual([18, 100, 26, 3, 32, 33, 34, 3, 2, 1]);
    expect(Array.from(tokenizer.encodePadded('', 256).slice(0, 2))).toEqual([1, 0]);
  });

  it('truncates to max_length − 1 pieces and keeps </s>; special tokens in the text keep their ids', () => {
    const ids = tokenizer.encodePadded('cat '.repeat(20), 8);
    expect(Array.from(ids)).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
    expect(tokenizer.encode('a</s>cat')).toEqual([4, 1, 7]);
  });
});
