import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './errors.js';
import { parseGenerateRequest } from './generate-request.schema.js';
import type { ModelFamily } from './model-family.js';
import { buildOpenApiDocument } from './openapi.js';

type Json = Record<string, any>;
const doc = buildOpenApiDocument({ serverUrl: 'https://kiln.example.com' }) as Json;
const schemas = doc.components.schemas as Record<string, Json>;

function resolve(pointer: string): unknown {
  expect(pointer.startsWith('#/')).toBe(true);
  return pointer
    .slice(2)
    .split('/')
    .reduce<any>((node, key) => (node === undefined ? undefined : node[key]), doc);
}

/** A nullable property's non-null schema with its annotations (`{anyOf: [T, {type: null}], default}` → T + default). */
function valueOf(property: Json): Json {
  if (!Array.isArray(property.anyOf)) return property;
  const options = property.anyOf.filter((option: Json) => option.type !== 'null');
  const { anyOf: _anyOf, ...annotations } = property;
  return options.length === 1 ? { ...options[0], ...annotations } : property;
}

function collectRefs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => collectRefs(n, out));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') out.push(value);
      else collectRefs(value, out);
    }
  }
  return out;
}

describe('buildOpenApiDocument', () => {
  it('is a plain-JSON OpenAPI 3.1 document', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.jsonSchemaDialect).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
    expect(doc.info).toMatchObject({ title: 'Kiln', version: expect.any(String) });
    expect(doc.servers).toEqual([{ url: 'https://kiln.example.com' }]);
    expect(buildOpenApiDocument().servers).toBeUndefined();
    for (const component of Object.values(schemas)) expect(component.$schema).toBeUndefined();
  });

  it('every $ref points at something in the document', () => {
    const refs = collectRefs(doc);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) expect(resolve(ref), ref).toBeDefined();
  });

  it('has the bearer security scheme, and probes that need no auth', () => {
    expect(doc.components.securitySchemes.bearerAuth).toEqual(
      expect.objectContaining({ type: 'http', scheme: 'bearer' }),
    );
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/readyz'].get.security).toEqual([]);
  });

  it.each([
    ['/generate/sd', 'post'],
    ['/generate/sd3', 'post'],
    ['/v1/requests/{id}', 'get'],
    ['/v1/responses/{id}', 'get'],
    ['/v1/jobs/{id}', 'get'],
    ['/v1/jobs/{id}/images/{index}', 'get'],
    ['/v1/style-presets', 'get'],
    ['/healthz', 'get'],
    ['/readyz', 'get'],
  ])('documents %s %s', (path, method) => {
    const operation = doc.paths[path]?.[method];
    expect(operation).toBeDefined();
    expect(operation.responses['200']).toBeDefined();
  });

  it.each([
    ['/generate/sd', 'Sd15GenerateRequest'],
    ['/generate/sd3', 'Sd3GenerateRequest'],
  ])('%s: request body, sync 200, async 201 and the error statuses', (path, requestSchema) => {
    const post = doc.paths[path].post;
    expect(post.requestBody.content['application/json'].schema).toEqual({
      $ref: `#/components/schemas/${requestSchema}`,
    });
    for (const status of ['200', '201', '400', '413', '422', '503', '504'])
      expect(post.responses[status], status).toBeDefined();
    expect(post.responses['200'].content['application/json'].schema.$ref).toBe(
      '#/components/schemas/ImageGenerationResponse',
    );
    expect(post.responses['201'].content['application/json'].schema.$ref).toBe('#/components/schemas/AsyncAccepted');
    const headers = post.parameters.map((p: Json) => (p.$ref ? resolve(p.$ref) : p)) as Json[];
    expect(headers.map((h) => h.name)).toEqual(
      expect.arrayContaining(['X-OctoAI-Async', 'Idempotency-Key', 'X-Kiln-Dedupe']),
    );
    expect(post.responses['200'].headers['X-Kiln-Dedupe'].schema.enum).toEqual(['attached']);
    const unavailable = resolve(post.responses['503'].$ref) as Json;
    expect(unavailable.headers['Retry-After']).toBeDefined();
  });

  it('serves image bytes with their content types', () => {
    const content = doc.paths['/v1/jobs/{id}/images/{index}'].get.responses['200'].content;
    expect(Object.keys(content).sort()).toEqual(['image/jpeg', 'image/png']);
  });

  it('has the error schemas in components', () => {
    expect(schemas.ErrorCode!.enum).toEqual([...ERROR_CODES]);
    expect(schemas.ErrorBody!.properties.error.properties.code.enum).toEqual([...ERROR_CODES]);
    expect(schemas.HTTPValidationError!.required).toEqual(['detail', 'error']);
  });

  it('request schemas carry the field constraints of the validators', () => {
    for (const name of ['Sd15GenerateRequest', 'Sd3GenerateRequest']) {
      const { required, additionalProperties } = schemas[name]!;
      const properties = Object.fromEntries(
        Object.entries(schemas[name]!.properties as Record<string, Json>).map(([key, value]) => [key, valueOf(value)]),
      );
      expect(required).toEqual(['prompt']);
      expect(additionalProperties).toBe(false);
      expect(properties.steps).toMatchObject({ type: 'integer', minimum: 1, maximum: 200, default: 30 });
      expect(properties.cfg_scale).toMatchObject({ type: 'number', exclusiveMinimum: 0, maximum: 50, default: 12 });
      expect(properties.num_images).toMatchObject({ minimum: 1, maximum: 16, default: 1 });
      expect(properties.prompt).toMatchObject({ minLength: 1, maxLength: 10000 });
      expect(properties.strength).toMatchObject({ exclusiveMinimum: 0, maximum: 1, default: 0.8 });
      expect(properties.image_encoding).toMatchObject({ enum: ['jpeg', 'png'], default: 'jpeg' });
      expect(JSON.stringify(properties.seed)).toContain('4294967295');
    }
    const sd15 = (field: string) => valueOf(schemas.Sd15GenerateRequest!.properties[field]);
    const sd3 = (field: string) => valueOf(schemas.Sd3GenerateRequest!.properties[field]);
    expect(sd15('clip_skip')).toMatchObject({ minimum: 1, maximum: 12, default: 1 });
    expect(sd15('sampler').enum).toHaveLength(21);
    expect(sd15('high_noise_frac')).toMatchObject({ minimum: 0, maximum: 1, enum: [0.8, 1], default: 0.8 });
    expect(sd15('width').default).toBe(512);
    expect(sd3('width').default).toBe(1024);
    expect(sd3('sampler').enum).toEqual(['FLOW_MATCH_EULER']);
    expect(sd3('clip_skip').not).toEqual({});
    expect(sd15('prompt_2').not).toEqual({});
    expect(sd3('prompt_2')).toMatchObject({ type: 'string', maxLength: 10000 });
    expect(schemas.Sd3GenerateRequest!['x-allowed-resolutions']).toContainEqual({ width: 832, height: 1216 });
  });

  it('every numeric bound in the document is the bound the validator enforces', () => {
    const families: [ModelFamily, string][] = [
      ['sd15', 'Sd15GenerateRequest'],
      ['sd3', 'Sd3GenerateRequest'],
    ];
    let checked = 0;
    for (const [family, name] of families) {
      for (const [field, property] of Object.entries(schemas[name]!.properties as Record<string, Json>)) {
        const prop = valueOf(property);
        if (typeof prop.maximum !== 'number' || field === 'width' || field === 'height') continue;
        if (prop.enum) continue; // high_noise_frac: a range with only some values allowed (checked above)
        const body = (v: number) => ({ prompt: 'p', init_image: 'aGk=', [field]: v });
        const fails = (v: number) =>
          !parseGenerateRequest(family, body(v)).success &&
          (parseGenerateRequest(family, body(v)) as { body: { detail: { loc: unknown[] }[] } }).body.detail.some(
            (d) => d.loc[1] === field,
          );
        const step = prop.type === 'integer' ? 1 : 0.001;
        expect(fails(prop.maximum), `${family} ${field} = maximum`).toBe(false);
        expect(fails(prop.maximum + step), `${family} ${field} above maximum`).toBe(true);
        const min = prop.minimum ?? prop.exclusiveMinimum;
        if (prop.minimum !== undefined) expect(fails(min), `${family} ${field} = minimum`).toBe(false);
        expect(fails(prop.minimum !== undefined ? min - step : min), `${family} ${field} below minimum`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2 * 4 + 1); // cfg_scale, steps, num_images, strength (+ clip_skip)
  });

  it('shows every field but prompt as nullable, as the validator reads null as "not given"', () => {
    for (const [family, name] of [
      ['sd15', 'Sd15GenerateRequest'],
      ['sd3', 'Sd3GenerateRequest'],
    ] as const) {
      const properties = schemas[name]!.properties as Record<string, Json>;
      for (const [field, property] of Object.entries(properties)) {
        // `T | null`, or null alone where a field is refused but as null (SD3's mask_image).
        const nullable = property.type === 'null' || JSON.stringify(property.anyOf ?? []).includes('{"type":"null"}');
        expect([field, nullable]).toEqual([field, field !== 'prompt']);
        if (field !== 'prompt')
          expect(parseGenerateRequest(family, { prompt: 'p', [field]: null }).success, field).toBe(true);
      }
      expect(properties.steps).toEqual({
        anyOf: [{ type: 'integer', minimum: 1, maximum: 200 }, { type: 'null' }],
        default: 30,
        description: 'Denoising steps, 1..200.',
        'x-kiln-engines': ['sd15', 'sd3'],
      });
    }
  });

  it('allowAnyResolution drops the pair list and says so', () => {
    const any = buildOpenApiDocument({ allowAnyResolution: true }) as Json;
    const request = any.components.schemas.Sd15GenerateRequest;
    expect(request['x-allowed-resolutions']).toBeUndefined();
    expect(valueOf(request.properties.width)).toMatchObject({ minimum: 64, maximum: 2048, multipleOf: 8 });
    expect(request.properties.width.description).toContain('any multiple of 8 from 64 to 2048');
  });

  it('responses are described as Kiln sends them (every field required)', () => {
    expect(schemas.Job!.required).toEqual(
      expect.arrayContaining(['id', 'status', 'family', 'progress', 'queue_position', 'created_at', 'images', 'seeds']),
    );
    expect(schemas.ImageGenerationResponse!.required).toEqual(['images', 'prediction_time_ms', 'id']);
    expect(schemas.Job!.properties.created_at).toMatchObject({ type: 'string', format: 'date-time' });
    expect(schemas.Job!.properties.created_at.pattern).toBeUndefined();
  });
});
