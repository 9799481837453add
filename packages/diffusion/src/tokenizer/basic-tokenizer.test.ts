import { describe, it, expect } from 'vitest';
import { basicTokenize } from './basic-tokenizer.js';

describe('basicTokenize (transformers BasicTokenizer, strip_accents=False, no punctuation split)', () => {
  it('lower-cases and splits on whitespace runs without splitting punctuation', () => {
    expect(basicTokenize('  Hello,\tWORLD!!\n ')).toEqual(['hello,', 'world!!']);
  });

  it('drops control and format characters but turns tab/newline and Zs spaces into breaks', () => {
    // U+200D ZWJ and U+0007 BEL are category C: removed, joining their neighbours.
    expect(basicTokenize('a\u200db\u0007c\u00a0d\u3000e')).toEqual(['abc', 'd', 'e']);
  });

  it('splits on Python whitespace that is not Zs (U+2028 line separator)', () => {
    expect(basicTokenize('a\u2028b')).toEqual(['a', 'b']);
  });

  it('spaces CJK ideographs, including those outside the BMP', () => {
    expect(basicTokenize('ab中文c\u{20000}d')).toEqual(['ab', '中', '文', 'c', '\u{20000}', 'd']);
  });

  it('NFC-composes and keeps accents', () => {
    expect(basicTokenize('Cafe\u0301')).toEqual(['caf\u00e9']);
  });

  it('applies the word-final sigma rule when lower-casing, as Python does', () => {
    expect(basicTokenize('ΟΔΟΣ')).toEqual(['οδος']);
  });
});
