import { describe, expect, it } from 'vitest';
import {
  createSd15RequestSchema,
  createSd3RequestSchema,
  getGenerateRequestSchema,
  parseGenerateRequest,
  type SchemaOptions,
} from './generate-request.schema.js';
import type { ModelFamily } from './model-family.js';
import { SD15_ONLY_FIELDS } from './request-fields.js';
import { SD15_RESOLUTIONS, SD3_RESOLUTIONS } from './resolutions.js';
import { SD15_SAMPLERS } from './samplers.js';
import type { LocSegment, ValidationErrorBody } from './validation-error.js';

const PAIRS: SchemaOptions = { allowAnyResolution: false };
const ANY: SchemaOptions = { allowAnyResolution: true };
const BOTH: ModelFamily[] = ['sd15', 'sd3'];
const IMG = 'iVBORw0KGgo='; // any non-empty string: decoding is not this package's job
const base = { prompt: 'a red fox in the snow' };

function accept(family: ModelFamily, body: unknown, opts: SchemaOptions = PAIRS) {
  const result = parseGenerateRequest(family, body, opts);
  if (!result.success) throw new Error(`expected ${family} to accept: ${JSON.stringify(result.body.detail)}`);
  return result.data;
}

function reject(family: ModelFamily, body: unknown, opts: SchemaOptions = PAIRS): ValidationErrorBody {
  const result = parseGenerateRequest(family, body, opts);
  if (result.success) throw new Error(`expected ${family} to reject ${JSON.stringify(body).slice(0, 200)}`);
  return result.body;
}

function expectDetail(body: ValidationErrorBody, loc: LocSegment[], type: string) {
  expect(body.detail).toContainEqual(expect.objectContaining({ loc, type }));
}

interface Case {
  name: string;
  patch: Record<string, unknown>;
  families: ModelFamily[];
  error?: { loc: LocSegment[]; type: string };
}
const ok = (name: string, patch: Record<string, unknown>, families = BOTH): Case => ({ name, patch, families });
const bad = (name: string, patch: Record<string, unknown>, loc: LocSegment[], type: string, families = BOTH): Case => ({
  name,
  patch,
  families,
  error: { loc: ['body', ...loc], type },
});

// One accepted and one rejected value (both sides of each bound) for every rule of docs/generate.md.
const FIELD_CASES: Case[] = [
  ok('prompt of 1 char', { prompt: 'x' }),
  ok('prompt of 10000 chars', { prompt: 'x'.repeat(10_000) }),
  bad('empty prompt', { prompt: '' }, ['prompt'], 'string_too_short'),
  bad('prompt of 10001 chars', { prompt: 'x'.repeat(10_001) }, ['prompt'], 'string_too_long'),
  bad('prompt not a string', { prompt: 42 }, ['prompt'], 'string_type'),
  ok('empty negative_prompt', { negative_prompt: '' }),
  ok('negative_prompt of 10000 chars', { negative_prompt: 'n'.repeat(10_000) }),
  bad(
    'negative_prompt of 10001 chars',
    { negative_prompt: 'n'.repeat(10_001) },
    ['negative_prompt'],
    'string_too_long',
  ),
  bad('negative_prompt not a string', { negative_prompt: ['x'] }, ['negative_prompt'], 'string_type'),

  ok('cfg_scale just above 0', { cfg_scale: 1e-6 }),
  ok('cfg_scale 50', { cfg_scale: 50 }),
  ok('cfg_scale float', { cfg_scale: 7.5 }),
  bad('cfg_scale 0', { cfg_scale: 0 }, ['cfg_scale'], 'greater_than'),
  bad('cfg_scale negative', { cfg_scale: -1 }, ['cfg_scale'], 'greater_than'),
  bad('cfg_scale just above 50', { cfg_scale: 50.001 }, ['cfg_scale'], 'less_than_equal'),
  bad('cfg_scale as a string', { cfg_scale: '7' }, ['cfg_scale'], 'float_parsing'),

  ok('steps 1', { steps: 1 }),
  ok('steps 200', { steps: 200 }),
  bad('steps 0', { steps: 0 }, ['steps'], 'greater_than_equal'),
  bad('steps 201', { steps: 201 }, ['steps'], 'less_than_equal'),
  bad('steps float', { steps: 20.5 }, ['steps'], 'int_from_float'),
  bad('steps as a string', { steps: '20' }, ['steps'], 'int_parsing'),
  bad('steps as a bool', { steps: true }, ['steps'], 'int_type'),

  ok('num_images 1', { num_images: 1 }),
  ok('num_images 16', { num_images: 16 }),
  bad('num_images 0', { num_images: 0 }, ['num_images'], 'greater_than_equal'),
  bad('num_images 17', { num_images: 17 }, ['num_images'], 'less_than_equal'),
  bad('num_images float', { num_images: 1.5 }, ['num_images'], 'int_from_float'),

  ok('seed 0', { seed: 0 }),
  ok('seed 2^32-1', { seed: 2 ** 32 - 1 }),
  ok('seed null', { seed: null }),
  ok('seed list with nulls', { num_images: 3, seed: [7, null, 2 ** 32 - 1] }),
  ok('seed list of nulls', { num_images: 2, seed: [null, null] }),
  bad('seed negative', { seed: -1 }, ['seed'], 'greater_than_equal'),
  bad('seed 2^32', { seed: 2 ** 32 }, ['seed'], 'less_than_equal'),
  bad('seed float', { seed: 1.5 }, ['seed'], 'int_from_float'),
  bad('seed string', { seed: 'abc' }, ['seed'], 'int_parsing'),
  bad('seed list entry negative', { num_images: 2, seed: [1, -1] }, ['seed', 1], 'greater_than_equal'),
  bad('seed list entry 2^32', { num_images: 2, seed: [2 ** 32, 1] }, ['seed', 0], 'less_than_equal'),
  bad('seed list entry float', { num_images: 2, seed: [1, 0.5] }, ['seed', 1], 'int_from_float'),
  bad('seed list shorter than num_images', { num_images: 3, seed: [1, 2] }, ['seed'], 'list_length'),
  bad('seed list longer than num_images', { seed: [1, 2] }, ['seed'], 'list_length'),

  ok('image_encoding jpeg', { image_encoding: 'jpeg' }),
  ok('image_encoding png', { image_encoding: 'png' }),
  bad('image_encoding webp', { image_encoding: 'webp' }, ['image_encoding'], 'enum'),

  ok('init_image alone', { init_image: IMG }),
  bad('empty init_image', { init_image: '' }, ['init_image'], 'string_too_short'),
  bad('init_image not a string', { init_image: 1 }, ['init_image'], 'string_type'),
  ok('strength just above 0', { init_image: IMG, strength: 0.001 }),
  ok('strength 1', { init_image: IMG, strength: 1 }),
  bad('strength 0', { init_image: IMG, strength: 0 }, ['strength'], 'greater_than'),
  bad('strength just above 1', { init_image: IMG, strength: 1.001 }, ['strength'], 'less_than_equal'),
  bad('strength without init_image', { strength: 0.5 }, ['strength'], 'value_error'),
  ok('mask_image with init_image', { init_image: IMG, mask_image: IMG }, ['sd15']),
  bad('mask_image on SD3', { init_image: IMG, mask_image: IMG }, ['mask_image'], 'value_error', ['sd3']),
  bad('mask_image without init_image', { mask_image: IMG }, ['mask_image'], 'value_error'),
  bad('empty mask_image', { init_image: IMG, mask_image: '' }, ['mask_image'], 'string_too_short'),
  ok('outpainting with init_image and mask_image', { init_image: IMG, mask_image: IMG, outpainting: true }, ['sd15']),
  bad('outpainting on SD3', { init_image: IMG, mask_image: IMG, outpainting: true }, ['outpainting'], 'value_error', [
    'sd3',
  ]),
  ok('outpainting false alone', { outpainting: false }),
  bad('outpainting without mask_image', { init_image: IMG, outpainting: true }, ['outpainting'], 'value_error'),
  bad('outpainting alone', { outpainting: true }, ['outpainting'], 'value_error'),
  bad('outpainting not a boolean', { outpainting: 'yes' }, ['outpainting'], 'bool_type'),

  ok('checkpoint', { checkpoint: 'library:dreamshaper-8' }, ['sd15']),
  bad('empty checkpoint', { checkpoint: '' }, ['checkpoint'], 'string_too_short', ['sd15']),
  bad('checkpoint of 257 chars', { checkpoint: 'c'.repeat(257) }, ['checkpoint'], 'string_too_long', ['sd15']),
  ok('vae null', { vae: null }, ['sd15']),
  ok('vae naming one', { vae: 'sd-vae-ft-mse' }, ['sd15']),
  ok('vae from the library', { vae: 'library:sd-vae-ft-mse' }, ['sd15']),
  bad('vae naming a path', { vae: '../../etc/passwd' }, ['vae'], 'string_pattern_mismatch', ['sd15']),
  bad('vae not a string', { vae: 3 }, ['vae'], 'string_type', ['sd15']),
  ok('loras {} (none)', { loras: {} }, ['sd15']),
  ok('loras null', { loras: null }, ['sd15']),
  ok('loras at both weight bounds', { loras: { detail: -5, style: 5 } }, ['sd15']),
  bad('lora named by a path', { loras: { 'a/b': 1 } }, ['loras', 'a/b'], 'string_pattern_mismatch', ['sd15']),
  bad('lora weight above 5', { loras: { style: 5.01 } }, ['loras', 'style'], 'less_than_equal', ['sd15']),
  bad('lora weight below -5', { loras: { style: -5.01 } }, ['loras', 'style'], 'greater_than_equal', ['sd15']),
  bad('lora weight not a number', { loras: { style: 'high' } }, ['loras', 'style'], 'float_parsing', ['sd15']),
  bad('lora with an empty name', { loras: { '': 1 } }, ['loras', ''], 'string_too_short', ['sd15']),
  bad('loras as a list', { loras: ['style'] }, ['loras'], 'dict_type', ['sd15']),
  ok('textual_inversions {} (none)', { textual_inversions: {} }, ['sd15']),
  ok('textual_inversions null', { textual_inversions: null }, ['sd15']),
  ok('textual_inversions naming one', { textual_inversions: { easynegative: 'easynegative' } }, ['sd15']),
  bad(
    'textual inversion with an empty trigger',
    { textual_inversions: { emb: '' } },
    ['textual_inversions', 'emb'],
    'string_too_short',
    ['sd15'],
  ),
  bad(
    'textual inversion trigger not a string',
    { textual_inversions: { emb: 1 } },
    ['textual_inversions', 'emb'],
    'string_type',
    ['sd15'],
  ),
  ok('clip_skip 1', { clip_skip: 1 }, ['sd15']),
  ok('clip_skip 12', { clip_skip: 12 }, ['sd15']),
  bad('clip_skip 0', { clip_skip: 0 }, ['clip_skip'], 'greater_than_equal', ['sd15']),
  bad('clip_skip 13', { clip_skip: 13 }, ['clip_skip'], 'less_than_equal', ['sd15']),
  bad('clip_skip float', { clip_skip: 2.5 }, ['clip_skip'], 'int_from_float', ['sd15']),

  ok('webhook_url https', { webhook_url: 'https://hooks.example.com/kiln?x=1' }),
  ok('webhook_url http to an IP', { webhook_url: 'http://10.0.0.5:9000/hook' }),
  bad('webhook_url ftp', { webhook_url: 'ftp://example.com/hook' }, ['webhook_url'], 'url_parsing'),
  bad('webhook_url not a URL', { webhook_url: 'example dot com' }, ['webhook_url'], 'url_parsing'),
  ok('webhook_events with webhook_url', {
    webhook_url: 'https://h.example/x',
    webhook_events: ['started', 'progress', 'completed', 'failed', 'canceled'],
  }),
  bad(
    'unknown webhook event',
    { webhook_url: 'https://h.example/x', webhook_events: ['done'] },
    ['webhook_events', 0],
    'enum',
  ),
  bad(
    'empty webhook_events',
    { webhook_url: 'https://h.example/x', webhook_events: [] },
    ['webhook_events'],
    'too_short',
  ),
  bad('webhook_events without webhook_url', { webhook_events: ['completed'] }, ['webhook_events'], 'value_error'),
  ok('custom_id of 256 chars', { custom_id: 'i'.repeat(256) }),
  bad('custom_id of 257 chars', { custom_id: 'i'.repeat(257) }, ['custom_id'], 'string_too_long'),
  bad('empty custom_id', { custom_id: '' }, ['custom_id'], 'string_too_short'),

  bad('unknown field', { guidance: 7 }, ['guidance'], 'extra_forbidden'),
];

describe.each(BOTH)('%s request fields (docs/generate.md)', (family) => {
  const cases = FIELD_CASES.filter((c) => c.families.includes(family));
  it.each(cases.filter((c) => !c.error).map((c) => [c.name, c] as const))('accepts %s', (_, c) => {
    const data = accept(family, { ...base, ...c.patch });
    for (const [key, value] of Object.entries(c.patch)) {
      if (value === null)
        expect(data).not.toHaveProperty(key); // null is "not given"
      else expect(data[key as keyof typeof data]).toEqual(value);
    }
  });
  it.each(cases.filter((c) => c.error).map((c) => [c.name, c] as const))('rejects %s', (_, c) => {
    const body = reject(family, { ...base, ...c.patch });
    expectDetail(body, c.error!.loc, c.error!.type);
  });

  it('requires prompt', () => {
    expectDetail(reject(family, {}), ['body', 'prompt'], 'missing');
  });

  it('rejects a body that is not an object', () => {
    for (const body of [null, [], 'prompt', 3]) expectDetail(reject(family, body), ['body'], 'model_attributes_type');
  });

  it('reports each unknown field at its own loc', () => {
    const body = reject(family, { ...base, foo: 1, bar: { x: 1 } });
    const extra = body.detail.filter((d) => d.type === 'extra_forbidden');
    expect(extra.map((d) => d.loc)).toEqual([
      ['body', 'foo'],
      ['body', 'bar'],
    ]);
  });

  it('reports several bad fields at once, cross-field rules included', () => {
    const body = reject(family, { ...base, steps: 0, num_images: 2, seed: [1], strength: 0.5 });
    expectDetail(body, ['body', 'steps'], 'greater_than_equal');
    expectDetail(body, ['body', 'seed'], 'list_length');
    expectDetail(body, ['body', 'strength'], 'value_error');
  });

  it('skips a cross-field rule when one of its fields is itself invalid', () => {
    const body = reject(family, { ...base, num_images: 99, seed: [1] });
    expectDetail(body, ['body', 'num_images'], 'less_than_equal');
    expect(body.detail.some((d) => d.type === 'list_length')).toBe(false);
  });

  it('parses its own output to the same value (the worker parses again)', () => {
    const first = accept(family, {
      ...base,
      init_image: IMG,
      ...(family === 'sd15' && { mask_image: IMG }),
      seed: 5,
      num_images: 2,
      webhook_url: 'https://h.example/x',
    });
    const { family: _family, ...withoutFamily } = first;
    expect(accept(family, withoutFamily)).toEqual(first);
  });
});

describe('defaults applied on parse', () => {
  it('SD1.5: every default of docs/generate.md', () => {
    expect(accept('sd15', base)).toEqual({
      family: 'sd15',
      prompt: base.prompt,
      sampler: 'DDIM',
      cfg_scale: 12,
      steps: 30,
      num_images: 1,
      image_encoding: 'jpeg',
      width: 512,
      height: 512,
      outpainting: false,
      clip_skip: 1,
      log_prompt: false,
    });
  });

  it('SD3: its own sampler and 1024x1024, no SD1.5 fields', () => {
    expect(accept('sd3', base)).toEqual({
      family: 'sd3',
      prompt: base.prompt,
      sampler: 'FLOW_MATCH_EULER',
      cfg_scale: 12,
      steps: 30,
      num_images: 1,
      image_encoding: 'jpeg',
      width: 1024,
      height: 1024,
      outpainting: false,
      log_prompt: false,
    });
  });

  it.each(BOTH)('%s: strength defaults to 0.8 only with init_image', (family) => {
    expect(accept(family, { ...base, init_image: IMG }).strength).toBe(0.8);
    expect(accept(family, { ...base, init_image: IMG, strength: 0.3 }).strength).toBe(0.3);
    expect(accept(family, base).strength).toBeUndefined();
  });

  it.each(BOTH)('%s: webhook_events defaults to ["completed"] only with webhook_url, duplicates dropped', (family) => {
    expect(accept(family, { ...base, webhook_url: 'https://h.example/x' }).webhook_events).toEqual(['completed']);
    expect(
      accept(family, { ...base, webhook_url: 'https://h.example/x', webhook_events: ['failed', 'failed', 'started'] })
        .webhook_events,
    ).toEqual(['failed', 'started']);
    expect(accept(family, base).webhook_events).toBeUndefined();
  });

  it('the factories themselves apply the defaults (strict zod object schemas)', () => {
    const parsed = createSd15RequestSchema(PAIRS).parse({ prompt: 'p', init_image: IMG });
    expect(parsed).toMatchObject({ steps: 30, cfg_scale: 12, strength: 0.8, width: 512 });
    expect(createSd15RequestSchema(PAIRS).safeParse({ prompt: 'p', nope: 1 }).success).toBe(false);
    expect(Object.keys(createSd3RequestSchema(PAIRS).shape)).toContain('prompt');
  });
});

describe('samplers', () => {
  it.each([...SD15_SAMPLERS])('SD1.5 accepts %s', (sampler) => {
    expect(accept('sd15', { ...base, sampler }).sampler).toBe(sampler);
  });

  it.each(['EULER', 'ddim', 'FLOW_MATCH_EULER', ''])('SD1.5 rejects %j', (sampler) => {
    expectDetail(reject('sd15', { ...base, sampler }), ['body', 'sampler'], 'enum');
  });

  it("has the 21 names of the spec's Scheduler enum, LCM included", () => {
    expect(SD15_SAMPLERS).toHaveLength(21);
    expect(new Set(SD15_SAMPLERS).size).toBe(21);
    expect(SD15_SAMPLERS).toContain('LCM');
  });

  it('LCM takes at most 50 steps (its distillation schedule), other samplers up to 200', () => {
    expect(accept('sd15', { ...base, sampler: 'LCM', steps: 4, cfg_scale: 1.5 })).toMatchObject({
      sampler: 'LCM',
      steps: 4,
    });
    expect(accept('sd15', { ...base, sampler: 'LCM', steps: 50 }).steps).toBe(50);
    const body = reject('sd15', { ...base, sampler: 'LCM', steps: 51 });
    expect(body.detail).toEqual([
      expect.objectContaining({
        loc: ['body', 'steps'],
        type: 'less_than_equal',
        msg: expect.stringMatching(/LCM takes at most 50 steps/),
      }),
    ]);
    expect(accept('sd15', { ...base, sampler: 'LCM' }).steps).toBe(30); // the default step count fits
    expect(accept('sd15', { ...base, sampler: 'DDIM', steps: 200 }).steps).toBe(200);
  });

  it('SD3 accepts FLOW_MATCH_EULER or no sampler', () => {
    expect(accept('sd3', { ...base, sampler: 'FLOW_MATCH_EULER' }).sampler).toBe('FLOW_MATCH_EULER');
    expect(accept('sd3', base).sampler).toBe('FLOW_MATCH_EULER');
  });

  it.each(['DDIM', 'K_EULER', 'flow_match_euler'])('SD3 rejects %s with a message saying why', (sampler) => {
    const body = reject('sd3', { ...base, sampler });
    expectDetail(body, ['body', 'sampler'], 'literal_error');
    expect(body.detail[0]!.msg).toMatch(/SD3 supports only the flow-matching Euler sampler/);
  });
});

describe('resolutions', () => {
  it.each(SD15_RESOLUTIONS.map(([w, h]) => [w, h]))('SD1.5 accepts %ix%i', (width, height) => {
    expect(accept('sd15', { ...base, width, height })).toMatchObject({ width, height });
  });

  it.each(SD3_RESOLUTIONS.map(([w, h]) => [w, h]))('SD3 accepts %ix%i', (width, height) => {
    expect(accept('sd3', { ...base, width, height })).toMatchObject({ width, height });
  });

  it.each([
    ['sd15', 512, 640],
    ['sd15', 1024, 1216],
    ['sd15', 2048, 2048],
    ['sd3', 512, 512],
    ['sd3', 1024, 768],
  ] as const)('%s rejects the pair %ix%i at loc width', (family, width, height) => {
    const body = reject(family, { ...base, width, height });
    expectDetail(body, ['body', 'width'], 'value_error');
    expect(body.detail[0]!.msg).toContain(`${width}x${height} is not an allowed`);
  });

  it('SD1.5 default height with a width from another pair is rejected', () => {
    expectDetail(reject('sd15', { ...base, width: 896 }), ['body', 'width'], 'value_error'); // 896x512 is not a pair
  });

  it.each(BOTH)('%s with allowAnyResolution accepts any multiple of 8 in 64..2048', (family) => {
    for (const [width, height] of [
      [64, 64],
      [2048, 2048],
      [72, 1000],
      [1536, 8 * 100],
    ]) {
      expect(accept(family, { ...base, width, height }, ANY)).toMatchObject({ width, height });
    }
  });

  it.each([
    ['width', 56, 'greater_than_equal'],
    ['width', 2056, 'less_than_equal'],
    ['height', 100, 'multiple_of'],
    ['height', 512.5, 'int_from_float'],
  ] as const)('allowAnyResolution rejects %s %d (%s)', (field, value, type) => {
    for (const family of BOTH) {
      expectDetail(reject(family, { ...base, [field]: value }, ANY), ['body', field], type);
    }
  });

  it('the field bounds hold in pair mode too', () => {
    expectDetail(reject('sd15', { ...base, width: 4096, height: 512 }), ['body', 'width'], 'less_than_equal');
  });
});

describe('SD1.5-only fields on SD3', () => {
  const values: Record<(typeof SD15_ONLY_FIELDS)[number], unknown> = {
    checkpoint: 'library:x',
    vae: 'v',
    loras: { a: 1 },
    textual_inversions: { e: 'e' },
    clip_skip: 2,
  };

  it.each([...SD15_ONLY_FIELDS])('SD3 rejects %s naming the field', (field) => {
    const body = reject('sd3', { ...base, [field]: values[field] });
    expect(body.detail).toEqual([
      {
        loc: ['body', field],
        msg: `${field} is supported by SD1.5 only (POST /generate/sd); SD3 does not accept it`,
        type: 'extra_forbidden',
      },
    ]);
    expect(body.error.message).toContain(field);
  });

  it.each(['checkpoint', 'clip_skip'] as const)('SD1.5 accepts %s', (field) => {
    expect(accept('sd15', { ...base, [field]: values[field] })[field]).toEqual(values[field]);
  });

  it.each([...SD15_ONLY_FIELDS])('SD3 accepts %s: null (not given)', (field) => {
    expect(accept('sd3', { ...base, [field]: null })).not.toHaveProperty(field);
  });
});

describe('asset fields', () => {
  it.each([
    ['vae', 'sd-vae-ft-mse'],
    ['loras', { style: 0.7, detail: 1 }],
    ['textual_inversions', { easynegative: 'easyneg' }],
    ['loras', {}],
    ['textual_inversions', {}],
  ] as const)('SD1.5 accepts %s %j (whether the assets exist is checked at intake)', (field, value) => {
    expect(accept('sd15', { ...base, [field]: value })[field]).toEqual(value);
  });

  it('a LoRA weight out of range is reported at the weight', () => {
    const body = reject('sd15', { ...base, loras: { style: 9 } });
    expect(body.detail).toEqual([
      expect.objectContaining({ loc: ['body', 'loras', 'style'], type: 'less_than_equal' }),
    ]);
  });
});

describe('schema lookup', () => {
  it('caches one schema per family and option', () => {
    expect(getGenerateRequestSchema('sd15', PAIRS)).toBe(
      getGenerateRequestSchema('sd15', { allowAnyResolution: false }),
    );
    expect(getGenerateRequestSchema('sd15', PAIRS)).not.toBe(getGenerateRequestSchema('sd15', ANY));
    expect(getGenerateRequestSchema('sd3', PAIRS)).not.toBe(getGenerateRequestSchema('sd15', PAIRS));
  });

  it('tags parsed requests with their family', () => {
    expect(accept('sd15', base).family).toBe('sd15');
    expect(accept('sd3', base).family).toBe('sd3');
  });

  it('defaults to allowed pairs when no options are given', () => {
    expect(parseGenerateRequest('sd15', { ...base, width: 64, height: 64 }).success).toBe(false);
  });
});
