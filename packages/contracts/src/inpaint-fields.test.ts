import { describe, expect, it } from 'vitest';
import { parseGenerateRequest } from './generate-request.schema.js';
import { buildOpenApiDocument } from './openapi.js';
import { SD15_INPAINT_FIELDS } from './request-fields.js';

const IMG = 'aGk=';
const base = { prompt: 'a cat', init_image: IMG, mask_image: IMG };

function detailOf(family: 'sd15' | 'sd3', body: unknown) {
  const result = parseGenerateRequest(family, body);
  expect(result.success).toBe(false);
  return result.success ? [] : result.body.detail;
}

describe('Kiln inpainting extensions on POST /generate/sd', () => {
  it('accepts each field with its documented bounds and applies no default on parse', () => {
    const ok = parseGenerateRequest('sd15', {
      ...base,
      mask_blur: 64,
      inpaint_full_res: true,
      inpaint_full_res_padding: 256,
      inpaint_paste_original: false,
    });
    expect(ok.success).toBe(true);
    if (ok.success)
      expect(ok.data).toMatchObject({
        mask_blur: 64,
        inpaint_full_res: true,
        inpaint_full_res_padding: 256,
        inpaint_paste_original: false,
      });
    const plain = parseGenerateRequest('sd15', base);
    expect(plain.success && plain.data.mask_blur).toBeUndefined();
  });

  it.each([
    ['mask_blur', -1, 'greater_than_equal'],
    ['mask_blur', 65, 'less_than_equal'],
    ['mask_blur', 2.5, 'int_from_float'],
    ['inpaint_full_res_padding', 257, 'less_than_equal'],
    ['inpaint_full_res', 'yes', 'bool_type'],
    ['inpaint_paste_original', 1, 'bool_type'],
  ])('rejects %s = %j naming the field (%s)', (field, value, type) => {
    const detail = detailOf('sd15', { ...base, [field]: value });
    expect(detail).toHaveLength(1);
    expect(detail[0].loc).toEqual(['body', field]);
    expect(detail[0].type).toBe(type);
  });

  it.each([...SD15_INPAINT_FIELDS])('SD3 rejects %s by name', (field) => {
    const detail = detailOf('sd3', {
      prompt: 'x',
      [field]: field === 'mask_blur' || field === 'inpaint_full_res_padding' ? 4 : true,
    });
    expect(detail).toEqual([
      {
        loc: ['body', field],
        msg: `${field} is supported by SD1.5 only (POST /generate/sd); SD3 does not accept it`,
        type: 'extra_forbidden',
      },
    ]);
  });

  it('documents the fields and their defaults in the OpenAPI document', () => {
    const schemas = (buildOpenApiDocument() as any).components.schemas;
    const props = schemas.Sd15GenerateRequest.properties;
    // Nullable (null means "not given"): the value's schema is the first `anyOf` option, the default beside it.
    expect(props.mask_blur).toMatchObject({
      anyOf: [{ type: 'integer', minimum: 0, maximum: 64 }, { type: 'null' }],
      default: 0,
    });
    expect(props.inpaint_full_res).toMatchObject({ anyOf: [{ type: 'boolean' }, { type: 'null' }], default: false });
    expect(props.inpaint_full_res_padding).toMatchObject({ anyOf: [{ maximum: 256 }, { type: 'null' }], default: 32 });
    expect(props.inpaint_paste_original).toMatchObject({
      anyOf: [{ type: 'boolean' }, { type: 'null' }],
      default: true,
    });
    expect(props.inpaint_paste_original.description).toMatch(/Kiln extension/);
  });
});
