import { buildOpenApiDocument } from '@kiln/contracts';
import { describe, expect, it } from 'vitest';
import { allowedSizes, formFields, requestBody, type JsonSchema } from './request-form.js';

const doc = buildOpenApiDocument({ serverUrl: 'http://kiln.test' }) as unknown as {
  components: { schemas: Record<string, JsonSchema> };
};
const sd15 = doc.components.schemas.Sd15GenerateRequest;
const sd3 = doc.components.schemas.Sd3GenerateRequest;

describe('formFields (from the OpenAPI document the API serves)', () => {
  it('has one field per property an engine accepts, none for the fields it refuses', () => {
    const names = formFields(sd15).map((f) => f.name);
    expect(names).toContain('loras');
    expect(names).not.toContain('prompt_2'); // SD3 only: /generate/sd answers 422 naming it
    expect(formFields(sd3).map((f) => f.name)).toContain('prompt_2');
    expect(formFields(sd3).map((f) => f.name)).not.toContain('loras');
    expect(new Set(names).size).toBe(names.length);
  });

  it('puts the common fields first and picks a control from each schema', () => {
    const fields = formFields(sd15);
    expect(fields.slice(0, 3).map((f) => f.name)).toEqual(['prompt', 'negative_prompt', 'style_preset']);
    const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
    expect(byName.prompt).toMatchObject({ kind: 'prompt', required: true, basic: true });
    expect(byName.steps).toMatchObject({ kind: 'integer', min: 1, max: 200, default: 30 });
    expect(byName.cfg_scale).toMatchObject({ kind: 'number', max: 50 });
    expect(byName.seed).toMatchObject({ kind: 'oneOrList', itemType: 'integer' });
    expect(byName.sampler.kind).toBe('choice');
    expect(byName.sampler.options).toContain('K_EULER_ANCESTRAL');
    expect(byName.init_image).toMatchObject({ kind: 'image', multiple: false });
    expect(byName.loras.kind).toBe('json');
    expect(byName.outpainting.kind).toBe('boolean');
    expect(byName.webhook_events).toMatchObject({ kind: 'list', options: expect.arrayContaining(['completed']) });
  });

  it('reads nested anyOf: a value or a list of values, one image or several', () => {
    // the shape zod gives `x.or(z.array(x)).nullable()` (ControlNet fields: one value per ControlNet)
    const oneOrMany = (one: JsonSchema): JsonSchema => ({
      anyOf: [{ anyOf: [one, { type: 'array', items: one }] }, { type: 'null' }],
    });
    const fields = formFields({
      properties: {
        scale: oneOrMany({ type: 'number', minimum: 0, maximum: 2 }),
        flag: oneOrMany({ type: 'boolean' }),
        cond_image: oneOrMany({ type: 'string', minLength: 1 }),
      },
    });
    expect(fields).toMatchObject([
      { name: 'scale', kind: 'oneOrList', itemType: 'number', min: 0, max: 2 },
      { name: 'flag', kind: 'oneOrList', itemType: 'boolean' },
      { name: 'cond_image', kind: 'image', multiple: true },
    ]);
    const { body, errors } = requestBody(fields, {
      scale: '0.5, 1.2',
      flag: 'true',
      cond_image: 'iVBORw0KGgo=\nR0lGODlh',
    });
    expect(errors).toEqual([]);
    expect(body).toEqual({ scale: [0.5, 1.2], flag: true, cond_image: ['iVBORw0KGgo=', 'R0lGODlh'] });
    expect(requestBody(fields, { flag: 'maybe' }).errors).toEqual([
      { field: 'flag', message: 'one boolean value, or a comma-separated list of them' },
    ]);
  });

  it("offers the engine's allowed sizes", () => {
    expect(allowedSizes(sd15)).toContainEqual({ width: 512, height: 512 });
    expect(allowedSizes(sd3)).toContainEqual({ width: 1024, height: 1024 });
  });
});

describe('requestBody', () => {
  const fields = formFields(sd15);

  it('leaves empty fields out (the API applies its defaults) and types the rest', () => {
    const { body, errors } = requestBody(fields, {
      prompt: 'a cat',
      steps: '4',
      cfg_scale: '7.5',
      seed: '42',
      sampler: 'K_EULER',
      outpainting: 'false',
      loras: '{"library:film": 0.6}',
      webhook_events: 'started, completed',
      negative_prompt: '',
    });
    expect(errors).toEqual([]);
    expect(body).toEqual({
      prompt: 'a cat',
      steps: 4,
      cfg_scale: 7.5,
      seed: 42,
      sampler: 'K_EULER',
      outpainting: false,
      loras: { 'library:film': 0.6 },
      webhook_events: ['started', 'completed'],
    });
  });

  it('reads a list of seeds with random entries', () => {
    expect(requestBody(fields, { prompt: 'x', seed: '1, null, 3' }).body.seed).toEqual([1, null, 3]);
    expect(requestBody(fields, { prompt: 'x', seed: '42' }).body.seed).toBe(42);
  });

  it('names the field of a value it cannot read, and a missing prompt', () => {
    const { errors } = requestBody(fields, { steps: '2.5', loras: '[1]', seed: 'abc' });
    expect(errors.map((e) => e.field).sort()).toEqual(['loras', 'prompt', 'seed', 'steps']);
  });
});
