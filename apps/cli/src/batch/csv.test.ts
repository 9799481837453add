import { describe, expect, it } from 'vitest';
import { CsvError, parseCsv } from './csv.js';

describe('parseCsv', () => {
  it('reads quoted fields with commas, quotes and newlines, CRLF, a BOM, and skips blank lines', () => {
    const text = '\uFEFFprompt,steps\r\n"a cat, sitting",4\r\n\r\n"say ""hi""",5\n"two\nlines",\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['prompt', 'steps'] },
      { line: 2, fields: ['a cat, sitting', '4'] },
      { line: 4, fields: ['say "hi"', '5'] },
      { line: 5, fields: ['two\nlines', ''] },
    ]);
  });

  it('reads a last row without a line end, and empty quoted fields', () => {
    expect(parseCsv('a,b\n"",x')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['', 'x'] },
    ]);
  });

  it('refuses an unclosed quote and a stray quote, naming the line', () => {
    expect(() => parseCsv('prompt\n"open')).toThrow(CsvError);
    expect(() => parseCsv('prompt\n"open')).toThrow(/line 2/);
    expect(() => parseCsv('prompt\nab"c')).toThrow(/line 2: a quote inside/);
  });
});
