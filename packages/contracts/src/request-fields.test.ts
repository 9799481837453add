/**
 * OctoAI's spec, field by field where Kiln used to refuse it: `null` as "not given", and the declared
 * fields `log_prompt`, `style_preset`, `use_refiner`, `high_noise_frac`, `prompt_2`, `negative_prompt_2`.
 */
import { describe, expect, it } from 'vitest';
import { createSd15RequestSchema, createSd3RequestSchema, parseGenerateRequest } from './generate-request.schema.js';
import type { ModelFamily } from './model-family.js';
import { acceptsNull } from './request-fields.js';
import { styledPrompts } from './style-presets.js';
import type { ValidationErrorBody } from './validation-error.js';

const BOTH: ModelFamily[] = ['sd15', 'sd3'];
const base = { prompt: 'a red fox in the snow' };
const IMG = 'iVBORw0KGgo=';

function accept(family: ModelFamily, body: Record<string, unknown>) {
  const result = parseGenerateRequest(family, body);
  if (!result.success) throw new Error(`expected ${family} to accept: ${JSON.stringify(result.body.detail)}`);
  return result.data as Record<string, unknown>;
}

function reject(family: ModelFamily, body: Record<string, unknown>): ValidationErrorBody {
  const result = parseGenerateRequest(family, body);
  if (result.success) throw new Error(`expected ${family} to reject ${JSON.stringify(body).slice(0, 200)}`);
  return result.body;
}

/** The fields OctoAI's `ImageGenerationRequest` marks nullable that Kiln's engines know. */
const SPEC_NULLABLE = [
  'negative_prompt',
  'negative_prompt_2',
  'prompt_2',
  'width',
  'height',
  'seed',
  'checkpoint',
  'vae',
  'loras',
  'textual_inversions',
  'clip_skip',
  'init_image',
  'mask_image',
  'style_preset',
];

describe.each(BOTH)('%s: null means "not given"', (family) => {
  const shape = (family === 'sd15' ? createSd15RequestSchema : createSd3RequestSchema)({
    allowAnyResolution: false,
  }).shape;
  const fields = Object.keys(shape).filter((field) => field !== 'prompt');

  it.each(fields)('%s: null parses exactly as the field left out (defaults applied)', (field) => {
    expect(accept(family, { ...base, [field]: null })).toStrictEqual(accept(family, base));
  });

  it('covers every field the spec marks nullable, and every field of Kiln but prompt', () => {
    expect(fields).toEqual(expect.arrayContaining(SPEC_NULLABLE));
    for (const field of fields) expect(acceptsNull(shape[field as keyof typeof shape]), field).toBe(true);
    expect(acceptsNull(shape.prompt)).toBe(false);
  });

  it('a body of nulls is the defaults; cross-field rules see null as absent', () => {
    const nulls = Object.fromEntries(fields.map((field) => [field, null]));
    expect(accept(family, { ...base, ...nulls })).toStrictEqual(accept(family, base));
    // strength without init_image is refused, but a null strength is no strength.
    expect(accept(family, { ...base, init_image: null, strength: null })).not.toHaveProperty('strength');
    expect(accept(family, { ...base, init_image: IMG, strength: null }).strength).toBe(0.8);
  });

  it('prompt stays required: null is refused', () => {
    expect(reject(family, { prompt: null }).detail).toEqual([
      expect.objectContaining({ loc: ['body', 'prompt'], type: 'string_type' }),
    ]);
  });

  it('a wrong value of a nullable field is still reported as itself', () => {
    expect(reject(family, { ...base, steps: 0 }).detail).toEqual([
      expect.objectContaining({ loc: ['body', 'steps'], type: 'greater_than_equal' }),
    ]);
  });
});

describe.each(BOTH)("%s: the spec's declared fields are accepted", (family) => {
  it("at the spec's defaults, all at once", () => {
    const defaults = {
      log_prompt: false,
      use_refiner: true,
      high_noise_frac: 0.8,
      style_preset: null,
      prompt_2: null,
      negative_prompt_2: null,
    };
    expect(accept(family, { ...base, ...defaults })).toMatchObject({
      log_prompt: false,
      use_refiner: true,
      high_noise_frac: 0.8,
    });
  });

  it('log_prompt: a boolean kept on the request, false by default', () => {
    expect(accept(family, base).log_prompt).toBe(false);
    expect(accept(family, { ...base, log_prompt: true }).log_prompt).toBe(true);
    expect(reject(family, { ...base, log_prompt: 'yes' }).detail[0]).toMatchObject({
      loc: ['body', 'log_prompt'],
      type: 'bool_type',
    });
  });

  it('style_preset: a known name is kept for the intake to apply', () => {
    expect(accept(family, { ...base, style_preset: 'anime' }).style_preset).toBe('anime');
  });

  it('style_preset: an unknown name is refused, listing the valid ones', () => {
    const [detail] = reject(family, { ...base, style_preset: 'vaporwave' }).detail;
    expect(detail).toMatchObject({ loc: ['body', 'style_preset'], type: 'enum' });
    expect(detail!.msg).toMatch(/^Input should be 'base', '3d-model', .*'Pokémon', .* or 'Tilt-Shift'$/);
  });

  it('style_preset: refused when the styled prompt would outgrow the prompt limit', () => {
    const room = 10_000 - styledPrompts('anime', '').prompt.length;
    expect(accept(family, { ...base, prompt: 'x'.repeat(room), style_preset: 'anime' }).style_preset).toBe('anime');
    const [detail] = reject(family, { ...base, prompt: 'x'.repeat(room + 1), style_preset: 'anime' }).detail;
    expect(detail).toMatchObject({ loc: ['body', 'prompt'], type: 'value_error' });
    expect(detail!.msg).toBe("with style_preset 'anime' prompt becomes 10001 characters; at most 10000: shorten it");
  });

  it('use_refiner: true (the spec default) and false are accepted; no refiner runs either way', () => {
    expect(accept(family, { ...base, use_refiner: true }).use_refiner).toBe(true);
    expect(accept(family, { ...base, use_refiner: false }).use_refiner).toBe(false);
    expect(accept(family, base)).not.toHaveProperty('use_refiner');
    expect(reject(family, { ...base, use_refiner: 1 }).detail[0]).toMatchObject({
      loc: ['body', 'use_refiner'],
      type: 'bool_type',
    });
  });

  it.each([0.8, 1])('high_noise_frac %d is accepted (every step runs on the base model)', (value) => {
    expect(accept(family, { ...base, high_noise_frac: value }).high_noise_frac).toBe(value);
  });

  it.each([0, 0.5, 0.9])('high_noise_frac %d is refused naming the field: no refiner to hand steps to', (value) => {
    expect(reject(family, { ...base, high_noise_frac: value }).detail).toEqual([
      {
        loc: ['body', 'high_noise_frac'],
        msg: expect.stringMatching(/^high_noise_frac is the share of steps .* no refiner/),
        type: 'value_error',
      },
    ]);
  });

  it('high_noise_frac outside [0, 1] gets the bound error', () => {
    expect(reject(family, { ...base, high_noise_frac: 1.5 }).detail[0]).toMatchObject({ type: 'less_than_equal' });
  });
});

describe('prompt_2 and negative_prompt_2', () => {
  it('SD3 keeps them for its second text encoder', () => {
    const data = accept('sd3', { ...base, prompt_2: 'oil painting', negative_prompt_2: 'blurry' });
    expect(data).toMatchObject({ prompt_2: 'oil painting', negative_prompt_2: 'blurry' });
    expect(reject('sd3', { ...base, prompt_2: 'x'.repeat(10_001) }).detail[0]).toMatchObject({
      type: 'string_too_long',
    });
  });

  it.each(['prompt_2', 'negative_prompt_2'])('SD1.5 refuses %s naming it (one text encoder)', (field) => {
    expect(reject('sd15', { ...base, [field]: 'oil painting' }).detail).toEqual([
      {
        loc: ['body', field],
        msg: expect.stringMatching(new RegExp(`^${field} feeds the second text encoder of SD3`)),
        type: 'extra_forbidden',
      },
    ]);
    expect(accept('sd15', { ...base, [field]: null })).not.toHaveProperty(field);
  });
});
