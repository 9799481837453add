import { describe, expect, it } from 'vitest';
import {
  BatchBodyError,
  BatchItemTooLargeError,
  readJsonEnvelope,
  readJsonLines,
  type RawBatchItem,
} from './batch-body-reader.js';

async function* chunks(text: string, size: number) {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(gen: AsyncGenerator<RawBatchItem>): Promise<RawBatchItem[]> {
  const out: RawBatchItem[] = [];
  for await (const item of gen) out.push(item);
  return out;
}

describe('readJsonLines', () => {
  it('yields one item per non-blank line with its line number, whatever the chunking (UTF-8 split included)', async () => {
    const body = '{"a":1}\n\n{"b":"é☃"}\r\n  \n{"c":3}';
    for (const size of [1, 2, 3, 7, 1000]) {
      const items = await collect(readJsonLines(chunks(body, size), 1000));
      expect(items).toEqual([
        { index: 0, line: 1, text: '{"a":1}' },
        { index: 1, line: 3, text: '{"b":"é☃"}' },
        { index: 2, line: 5, text: '{"c":3}' },
      ]);
    }
  });

  it('stops at an item over the size limit, whether it spans chunks or fits in one', async () => {
    const body = `{"a":1}\n{"a":"${'x'.repeat(100)}"}\n`;
    for (const size of [10, 1000]) {
      await expect(collect(readJsonLines(chunks(body, size), 50))).rejects.toMatchObject({
        name: 'BatchItemTooLargeError',
        line: 2,
      });
    }
  });
});

/**
 * Reading must be linear in the size of an item. The old reader searched and re-copied the whole
 * pending text on every chunk: a 12 MB item in 4 KB chunks took about 20 s here, where a linear
 * reader takes about 0.2 s. The bound sits an order of magnitude from both, so a loaded machine
 * cannot fail the linear reader and no machine can pass the quadratic one.
 */
describe('reading time grows linearly with the item', () => {
  const big = `{"prompt":"${'x'.repeat(12 * 1024 * 1024)}"}`;
  const limit = 16 * 1024 * 1024;

  it.each([
    ['JSONL', () => readJsonLines(chunks(`${big}\n{"a":1}\n`, 4096), limit)],
    ['JSON', () => readJsonEnvelope(chunks(`{"requests":[${big},{"a":1}]}`, 4096), {}, limit)],
  ])('%s: a 12 MB item in 4 KB chunks is read in under 3 s', async (_format, read) => {
    const started = performance.now();
    const items = await collect(read());
    expect(performance.now() - started).toBeLessThan(3000);
    expect(items.map((i) => i.text.length)).toEqual([big.length, 7]);
  });
});

describe('readJsonEnvelope', () => {
  const body = [
    '{',
    '  "webhook_url": "https://example.com/h",',
    '  "requests": [',
    '    {"custom_id": "a", "body": {"prompt": "x, [y] {z}", "s": "q\\"]}"}},',
    '    {"custom_id": "b",',
    '     "body": {"n": [1, 2, {"m": null}]}},',
    '    {oops},',
    '    42',
    '  ],',
    '  "webhook_events": ["completed", "failed"], "n": -1.5e3, "t": true',
    '}',
  ].join('\n');

  it('yields each element as text with its line, and parses the other members, in any chunking', async () => {
    for (const size of [1, 3, 16, 100_000]) {
      const envelope: Record<string, unknown> = {};
      const items = await collect(readJsonEnvelope(chunks(body, size), envelope, 10_000));
      expect(items.map((i) => [i.index, i.line])).toEqual([
        [0, 4],
        [1, 5],
        [2, 7],
        [3, 8],
      ]);
      expect(JSON.parse(items[0].text)).toEqual({ custom_id: 'a', body: { prompt: 'x, [y] {z}', s: 'q"]}' } });
      expect(JSON.parse(items[1].text)).toEqual({ custom_id: 'b', body: { n: [1, 2, { m: null }] } });
      expect(items[2].text).toBe('{oops}');
      expect(items[3].text).toBe('42');
      expect(envelope).toEqual({
        webhook_url: 'https://example.com/h',
        webhook_events: ['completed', 'failed'],
        n: -1500,
        t: true,
      });
    }
  });

  it('reads an empty requests list and a primitive at the very end', async () => {
    const envelope: Record<string, unknown> = {};
    expect(await collect(readJsonEnvelope(chunks('{"requests":[],"x":1}', 4), envelope, 100))).toEqual([]);
    expect(envelope).toEqual({ x: 1 });
  });

  it.each([
    ['', /empty/],
    ['[{"a":1}]', /expected "\{"/],
    ['{"requests": {"a": 1}}', /must be an array/],
    ['{"requests": [{"a": 1}', /ends before/],
    ['{"requests": [{"a": 1}]} x', /after the closing/],
    ['{"other": 1}', /no "requests"/],
    ['{"requests": [] "x": 1}', /expected ","/],
  ])('refuses %j as a whole', async (text, message) => {
    await expect(collect(readJsonEnvelope(chunks(text, 5), {}, 1000))).rejects.toThrow(message);
    await expect(collect(readJsonEnvelope(chunks(text, 5), {}, 1000))).rejects.toBeInstanceOf(BatchBodyError);
  });

  it('stops at an element over the size limit, whether it spans chunks or fits in one', async () => {
    const text = `{"requests": [{"p": "${'x'.repeat(500)}"}]}`;
    for (const size of [64, 10_000]) {
      await expect(collect(readJsonEnvelope(chunks(text, size), {}, 100))).rejects.toBeInstanceOf(
        BatchItemTooLargeError,
      );
    }
  });
});
