import { describe, it, expect } from 'vitest';
import { BytePairEncoder } from './byte-pair-encoder.js';

describe('BytePairEncoder', () => {
  const bpe = new BytePairEncoder(
    [
      ['a', 'b'],
      ['ab', 'ab'],
      ['abab', 'c</w>'],
      ['x', 'x'],
    ],
    new Set(['<|endoftext|>']),
  );

  it('applies the lowest-ranked rule at every position before the next rule', () => {
    // a b a b c</w> → (rank 0) ab ab c</w> → (rank 1) abab c</w> → (rank 2) ababc</w>
    expect(bpe.encodeWord('ababc')).toEqual(['ababc</w>']);
  });

  it('marks only the last symbol as end of word, so a final pair may not match', () => {
    // a b c a b</w>: only the first "a b" is a rule; "a b</w>" is not.
    expect(bpe.encodeWord('abcab')).toEqual(['ab', 'c', 'a', 'b</w>']);
    expect(bpe.encodeWord('q')).toEqual(['q</w>']);
  });

  it('merges non-overlapping pairs left to right', () => {
    // x x x x x</w> → xx xx x</w> (the last "x x</w>" is not a rule)
    expect(bpe.encodeWord('xxxxx')).toEqual(['xx', 'xx', 'x</w>']);
    expect(bpe.encodeWord('xxx')).toEqual(['xx', 'x</w>']);
  });

  it('returns preserved words whole and answers repeated words from its cache identically', () => {
    expect(bpe.encodeWord('<|endoftext|>')).toEqual(['<|endoftext|>']);
    expect(bpe.encodeWord('ababc')).toBe(bpe.encodeWord('ababc'));
  });

  it('parses merges.txt like transformers: header skipped, limit applied, CRLF tolerated', () => {
    expect(BytePairEncoder.parseMerges('#version: 0.2\r\ni n\r\nt h\r\na b\r\n', 2)).toEqual([
      ['i', 'n'],
      ['t', 'h'],
    ]);
  });
});
