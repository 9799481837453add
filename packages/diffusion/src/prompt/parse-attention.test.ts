import { describe, it, expect } from 'vitest';
import { isBreak, parsePromptAttention } from './parse-attention.js';

const parse = (prompt: string): Array<[string, number]> =>
  parsePromptAttention(prompt).map(({ text, weight }) => [text, weight]);

describe('parsePromptAttention: the docstring examples of A1111 modules/prompt_parser.py', () => {
  it.each<[string, Array<[string, number]>]>([
    ['normal text', [['normal text', 1.0]]],
    [
      'an (important) word',
      [
        ['an ', 1.0],
        ['important', 1.1],
        [' word', 1.0],
      ],
    ],
    ['(unbalanced', [['unbalanced', 1.1]]],
    ['\\(literal\\]', [['(literal]', 1.0]]],
    ['(unnecessary)(parens)', [['unnecessaryparens', 1.1]]],
    [
      'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
      [
        ['a ', 1.0],
        ['house', 1.5730000000000004],
        [' ', 1.1],
        ['on', 1.0],
        [' a ', 1.1],
        ['hill', 0.55],
        [', sun, ', 1.1],
        ['sky', 1.4641000000000006],
        ['.', 1.1],
      ],
    ],
  ])('%s', (prompt, expected) => {
    // toEqual on numbers is exact, so the float rounding must match Python's too.
    expect(parse(prompt)).toEqual(expected);
  });
});

describe('parsePromptAttention: the rest of the syntax', () => {
  it('divides by 1.1 inside square brackets and multiplies nested brackets', () => {
    expect(parse('[a] ((b))')).toEqual([
      ['a', 1 / 1.1],
      [' ', 1],
      ['b', 1.1 * 1.1],
    ]);
  });

  it('takes explicit weights, with spaces around the number and a sign', () => {
    expect(parse('(a : 1.5 ) (b:-0.5) ((c:2))')).toEqual([
      ['a ', 1.5],
      [' ', 1],
      ['b', -0.5],
      [' ', 1],
      ['c', 2 * 1.1],
    ]);
  });

  it('keeps unmatched closers, stray colons and weights without a bracket as text', () => {
    expect(parse('a) b] c: d:1.2)')).toEqual([['a) b] c: d:1.2)', 1]]);
  });

  it('reads escaped backslashes and drops a lone one', () => {
    expect(parse('a\\\\b \\c')).toEqual([['a\\b c', 1]]);
  });

  it('closes brackets left open at the end, round ones first', () => {
    expect(parse('a [b (c')).toEqual([
      ['a ', 1],
      ['b ', 1 / 1.1],
      ['c', 1.1 * (1 / 1.1)],
    ]);
  });

  it('marks BREAK as a separator only as a whole upper-case word', () => {
    const parts = parsePromptAttention('a cat BREAK a dog');
    expect(parts.map(({ text, weight }) => [text, weight])).toEqual([
      ['a cat', 1],
      ['BREAK', -1],
      ['a dog', 1],
    ]);
    expect(parts.map(isBreak)).toEqual([false, true, false]);
    expect(parse('BREAKING break xBREAK')).toEqual([['BREAKING break xBREAK', 1]]);
  });

  it('turns a bracketed BREAK into plain text, as A1111 does', () => {
    const parts = parsePromptAttention('(a BREAK b)');
    expect(parts.some(isBreak)).toBe(false);
    expect(parts.map((p) => p.text)).toEqual(['a', 'BREAK', 'b']);
  });

  it('gives one empty run for an empty prompt', () => {
    expect(parse('')).toEqual([['', 1]]);
  });

  it('keeps a weight that is not a number as text instead of failing', () => {
    expect(parse('(a:1.2.3)')).toEqual([['a:1.2.3)', 1.1]]);
  });
});
