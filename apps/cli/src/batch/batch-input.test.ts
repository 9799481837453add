import { describe, expect, it } from 'vitest';
import { itemsFromCsv, itemsFromJsonl, parseSeedRange } from './batch-input.js';
import { imageFileName } from './batch-manifest.js';

describe('parseSeedRange', () => {
  it('reads single seeds, ranges and lists', () => {
    expect(parseSeedRange('5')).toEqual([5]);
    expect(parseSeedRange('0-3')).toEqual([0, 1, 2, 3]);
    expect(parseSeedRange('1,4, 9-10,4')).toEqual([1, 4, 9, 10]);
  });
  it.each(['', 'a', '5-2', '1-', `0-${2 ** 32}`])('refuses %j', (text) => {
    expect(() => parseSeedRange(text)).toThrow();
  });
});

describe('itemsFromCsv', () => {
  const csv = [
    'prompt,negative_prompt,steps,custom_id,seeds',
    '"a cat, sitting",blurry,,,',
    'a dog,,8,dog,7-8',
    'a bird,,abc,,',
  ].join('\n');

  it("expands rows × seeds into single-image items named <row id>-s<seed>, cells over defaults over the API's", () => {
    const { items, problems } = itemsFromCsv(csv, {
      seeds: '0-1',
      defaults: { steps: 4, width: 64, height: 64, image_encoding: 'png' },
    });
    expect(items.map((i) => i.custom_id)).toEqual(['row1-s0', 'row1-s1', 'dog-s7', 'dog-s8']);
    expect(items[0].body).toEqual({
      prompt: 'a cat, sitting',
      negative_prompt: 'blurry',
      steps: 4,
      width: 64,
      height: 64,
      image_encoding: 'png',
      seed: 0,
    });
    expect(items[2].body).toMatchObject({ prompt: 'a dog', steps: 8, seed: 7 });
    // normalized with the API's schema: defaults applied for the manifest
    expect(items[0].request).toMatchObject({ sampler: 'DDIM', cfg_scale: 12, num_images: 1 });
    expect(items.every((i) => i.url === '/generate/sd')).toBe(true);
    // the bad row is reported with its line, the others go on
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatchObject({ line: 4, custom_id: 'row3-s0', message: expect.stringMatching(/steps/) });
  });

  it('refuses unknown columns and a file without prompts', () => {
    expect(() => itemsFromCsv('prompt,colour\nx,red', { defaults: {} })).toThrow(/unknown CSV column "colour"/);
    expect(() => itemsFromCsv('steps\n4', { defaults: {} })).toThrow(/"prompt" column/);
  });
});

describe('itemsFromJsonl', () => {
  it('takes batch items and bare request bodies, reports bad lines and duplicates', () => {
    const text = [
      JSON.stringify({ custom_id: 'a', url: '/generate/sd', body: { prompt: 'x', steps: 2 } }),
      JSON.stringify({ custom_id: 'b', prompt: 'y' }),
      '',
      '{nope',
      JSON.stringify({ custom_id: 'a', body: { prompt: 'z' } }),
      JSON.stringify({ prompt: 'no id' }),
    ].join('\n');
    const { items, problems } = itemsFromJsonl(text);
    expect(items.map((i) => [i.custom_id, i.line, i.body])).toEqual([
      ['a', 1, { prompt: 'x', steps: 2 }],
      ['b', 2, { prompt: 'y' }],
      ['line6', 6, { prompt: 'no id' }],
    ]);
    expect(problems.map((p) => p.line)).toEqual([4, 5]);
  });
});

describe('imageFileName', () => {
  it('keeps safe ids and makes others safe and unique', () => {
    expect(imageFileName('row1-s0', 0, 1, 'png')).toBe('row1-s0.png');
    expect(imageFileName('a', 2, 4, 'jpg')).toBe('a_2.jpg');
    const odd = imageFileName('cats/../x y', 0, 1, 'png');
    expect(odd).toMatch(/^cats_\.\._x_y-[0-9a-f]{8}\.png$/);
    expect(imageFileName('cats/../x z', 0, 1, 'png')).not.toBe(odd);
  });
});
