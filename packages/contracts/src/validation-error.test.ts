import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSd15RequestSchema } from './generate-request.schema.js';
import { VALIDATION_PARSE_PARAMS } from './issue-messages.js';
import { bodyValidationError, toValidationErrorBody, validationErrorBodySchema } from './validation-error.js';

const sd15 = createSd15RequestSchema({ allowAnyResolution: false });

function failure(body: unknown, params: Parameters<typeof sd15.safeParse>[1] = VALIDATION_PARSE_PARAMS) {
  const result = sd15.safeParse(body, params);
  if (result.success) throw new Error('expected a failure');
  return result.error;
}

describe('toValidationErrorBody', () => {
  it("has FastAPI's shape plus error.code, with pydantic wording", () => {
    const body = toValidationErrorBody(failure({ prompt: 'p', steps: 500 }));
    expect(body).toEqual({
      detail: [
        {
          loc: ['body', 'steps'],
          msg: 'Input should be less than or equal to 200',
          type: 'less_than_equal',
          ctx: { le: 200 },
        },
      ],
      error: { code: 'invalid_request', message: 'steps: Input should be less than or equal to 200' },
    });
    expect(validationErrorBodySchema.safeParse(body).success).toBe(true);
  });

  it('one extra_forbidden detail per unknown field', () => {
    const body = toValidationErrorBody(failure({ prompt: 'p', a: 1, b: 2 }));
    expect(body.detail).toEqual([
      { loc: ['body', 'a'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' },
      { loc: ['body', 'b'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' },
    ]);
  });

  it('missing required field → type missing, "Field required"', () => {
    expect(toValidationErrorBody(failure({})).detail).toEqual([
      { loc: ['body', 'prompt'], msg: 'Field required', type: 'missing' },
    ]);
  });

  it('message names the first bad field and counts the rest', () => {
    const body = toValidationErrorBody(failure({ steps: 0, cfg_scale: 99 }));
    expect(body.error.message).toBe('prompt: Field required (and 2 more errors)');
  });

  it('without reportInput, the raw body tells missing from wrong type', () => {
    const error = failure({ steps: 2.5 }, {});
    const body = toValidationErrorBody(error, { steps: 2.5 });
    expect(body.detail).toContainEqual(expect.objectContaining({ loc: ['body', 'prompt'], type: 'missing' }));
    expect(body.detail).toContainEqual(expect.objectContaining({ loc: ['body', 'steps'], type: 'int_from_float' }));
    // zod's own wording for the unknown key is replaced by pydantic's key-free one
    expect(toValidationErrorBody(failure({ prompt: 'p', zz: 1 }, {})).detail).toEqual([
      { loc: ['body', 'zz'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' },
    ]);
  });

  it('maps enum and literal failures', () => {
    expect(toValidationErrorBody(failure({ prompt: 'p', image_encoding: 'gif' })).detail[0]).toEqual({
      loc: ['body', 'image_encoding'],
      msg: "Input should be 'jpeg' or 'png'",
      type: 'enum',
      ctx: { expected: "'jpeg' or 'png'" },
    });
    const literal = z.object({ a: z.literal('x') }).safeParse({ a: 'y' }, VALIDATION_PARSE_PARAMS);
    expect(toValidationErrorBody(literal.error!).detail[0]).toMatchObject({
      loc: ['body', 'a'],
      type: 'literal_error',
    });
  });

  it('maps list bounds and string bounds', () => {
    const schema = z.object({ xs: z.array(z.int()).min(2).max(3), s: z.string().max(2) });
    const tooShort = schema.safeParse({ xs: [1], s: 'abc' }, VALIDATION_PARSE_PARAMS);
    expect(toValidationErrorBody(tooShort.error!).detail).toEqual([
      { loc: ['body', 'xs'], msg: 'List should have at least 2 items', type: 'too_short', ctx: { min_length: 2 } },
      {
        loc: ['body', 's'],
        msg: 'String should have at most 2 characters',
        type: 'string_too_long',
        ctx: { max_length: 2 },
      },
    ]);
    const tooLong = schema.safeParse({ xs: [1, 2, 3, 4], s: '' }, VALIDATION_PARSE_PARAMS);
    expect(toValidationErrorBody(tooLong.error!).detail[0]).toMatchObject({ type: 'too_long', ctx: { max_length: 3 } });
  });

  it('reports a union failure at the branch the input was meant for', () => {
    const body = toValidationErrorBody(failure({ prompt: 'p', num_images: 2, seed: [1, 'x'] }));
    expect(body.detail).toEqual([
      { loc: ['body', 'seed', 1], msg: 'Input should be a valid integer', type: 'int_parsing' },
    ]);
    const wholeWrong = toValidationErrorBody(failure({ prompt: 'p', seed: { a: 1 } })).detail;
    expect(wholeWrong).toEqual([
      {
        loc: ['body', 'seed'],
        msg: 'Input should be an integer in [0, 2^32), a list of such integers or nulls, or null',
        type: 'int_type',
      },
    ]);
  });

  it('an infinite number (JSON 1e400) → finite_number', () => {
    const body = JSON.parse('{"prompt":"p","cfg_scale":1e400,"steps":-1e400}');
    expect(toValidationErrorBody(failure(body)).detail).toEqual([
      { loc: ['body', 'cfg_scale'], msg: 'Input should be a finite number', type: 'finite_number' },
      { loc: ['body', 'steps'], msg: 'Input should be a finite number', type: 'finite_number' },
    ]);
  });

  it('accepts a bare issue list', () => {
    const body = toValidationErrorBody(failure({ prompt: 'p', steps: 0 }).issues);
    expect(body.detail[0]!.loc).toEqual(['body', 'steps']);
  });
});

describe('bodyValidationError', () => {
  it('a field → loc ["body", field]', () => {
    expect(bodyValidationError('init_image', 'too big')).toEqual({
      detail: [{ loc: ['body', 'init_image'], msg: 'too big', type: 'value_error' }],
      error: { code: 'invalid_request', message: 'init_image: too big' },
    });
  });

  it('no field (JSON parse failure) → loc ["body"]', () => {
    const body = bodyValidationError(null, 'JSON decode error', 'json_invalid');
    expect(body).toEqual({
      detail: [{ loc: ['body'], msg: 'JSON decode error', type: 'json_invalid' }],
      error: { code: 'invalid_request', message: 'body: JSON decode error' },
    });
    expect(validationErrorBodySchema.safeParse(body).success).toBe(true);
  });

  it('a nested path', () => {
    expect(bodyValidationError(['loras', 'style'], 'unknown asset', 'asset_not_found').detail[0]!.loc).toEqual([
      'body',
      'loras',
      'style',
    ]);
  });
});
