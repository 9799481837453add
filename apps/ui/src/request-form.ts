/**
 * The "try a prompt" form, derived from the API's own OpenAPI document (GET /openapi.json): every
 * property of the engine's request schema becomes a field, so a field added to the contracts appears
 * here without a change to the dashboard. Pure functions (no DOM), tested under Node.
 */

/** The parts of a JSON Schema the form reads. */
export interface JsonSchema {
  type?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  not?: JsonSchema;
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  multipleOf?: number;
  maxLength?: number;
  default?: unknown;
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  format?: string;
  'x-allowed-resolutions'?: { width: number; height: number }[];
  'x-kiln-engines-note'?: string;
}

export type FieldKind =
  'text' | 'prompt' | 'integer' | 'number' | 'boolean' | 'choice' | 'image' | 'oneOrList' | 'json' | 'list';

export interface FieldSpec {
  name: string;
  kind: FieldKind;
  required: boolean;
  /** Shown first, outside the "every field" section. */
  basic: boolean;
  description: string;
  default?: unknown;
  /** For `choice` and `list`. */
  options?: string[];
  /** For `oneOrList` (a value or a list of them, as `seed` is): the type of one value. */
  itemType?: string;
  /** For `image`: whether several images may be given (a list of base64 strings). */
  multiple?: boolean;
  min?: number;
  max?: number;
  step?: number;
}

/** The fields most people set, in the order the form shows them. */
const BASIC = [
  'prompt',
  'negative_prompt',
  'style_preset',
  'sampler',
  'steps',
  'cfg_scale',
  'num_images',
  'seed',
  'width',
  'height',
  'image_encoding',
];

/**
 * The schemas of the values a property accepts: its `anyOf` branches, nested ones flattened,
 * without `null` ("not given"); empty when the engine accepts no value at all.
 */
function valueBranches(schema: JsonSchema): JsonSchema[] {
  const flat = (s: JsonSchema): JsonSchema[] => (s.anyOf ? s.anyOf.flatMap(flat) : [s]);
  return (
    flat(schema)
      .filter((b) => b.type !== 'null')
      // `{ not: {} }` is how the schema says "this engine refuses the field" (422 naming it).
      .filter((b) => !(b.not && Object.keys(b.not).length === 0))
  );
}

type Kind = Pick<FieldSpec, 'kind' | 'options' | 'min' | 'max' | 'step' | 'itemType' | 'multiple'>;

function numberBounds(b: JsonSchema): Pick<FieldSpec, 'min' | 'max' | 'step'> {
  return {
    min: b.minimum ?? b.exclusiveMinimum,
    max: b.maximum,
    step: b.multipleOf ?? (b.type === 'integer' ? 1 : undefined),
  };
}

function kindOf(name: string, branches: JsonSchema[]): Kind {
  const list = branches.find((b) => b.type === 'array');
  const one = branches.find((b) => b.type !== 'array');
  if (name.endsWith('_image')) return { kind: 'image', multiple: list !== undefined };
  if (list && one && !list.items?.enum) {
    return { kind: 'oneOrList', itemType: one.type, ...numberBounds(one) };
  }
  if (list) return { kind: 'list', options: list.items?.enum?.map(String) };
  const b = one as JsonSchema;
  if (b.type === 'object') return { kind: 'json' };
  if (b.type === 'boolean') return { kind: 'boolean' };
  if (b.enum) return { kind: 'choice', options: b.enum.map(String) };
  if (b.type === 'integer' || b.type === 'number') return { kind: b.type, ...numberBounds(b) };
  if (name.includes('prompt')) return { kind: 'prompt' };
  return { kind: 'text' };
}

/** One field per property the engine accepts, the basic ones first, the rest in the schema's order. */
export function formFields(schema: JsonSchema): FieldSpec[] {
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(schema.properties ?? {}).flatMap(([name, prop]): FieldSpec[] => {
    const branches = valueBranches(prop);
    if (branches.length === 0) return [];
    const note = prop['x-kiln-engines-note'];
    return [
      {
        name,
        ...kindOf(name, branches),
        required: required.has(name),
        basic: BASIC.includes(name),
        description: [prop.description, note].filter(Boolean).join(' '),
        ...(prop.default !== undefined && { default: prop.default }),
      },
    ];
  });
  const rank = (f: FieldSpec) => (f.basic ? BASIC.indexOf(f.name) : BASIC.length);
  return fields
    .map((f, i) => ({ f, i }))
    .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
    .map(({ f }) => f);
}

/** The (width, height) pairs the schema allows, for the size picker; empty when any size is allowed. */
export function allowedSizes(schema: JsonSchema): { width: number; height: number }[] {
  return schema['x-allowed-resolutions'] ?? [];
}

export interface FieldError {
  field: string;
  message: string;
}

/** One value of a `oneOrList` field; `null` (or `random`) leaves that entry to the API (a random seed). */
function parseItem(text: string, type: string | undefined): unknown {
  if (text === 'null' || text === 'random') return null;
  if (type === 'integer' || type === 'number') return parseNumber(text, type === 'integer');
  if (type === 'boolean') return text === 'true' ? true : text === 'false' ? false : undefined;
  return text;
}

function parseNumber(text: string, integer: boolean): number | undefined {
  const n = Number(text);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) return undefined;
  return n;
}

/**
 * The request body from the form's values (strings as inputs hold them; images already base64). An
 * empty value is left out, so the API applies its default; range rules are the API's to check (its
 * 422 names the field, and the form shows the message there).
 */
export function requestBody(
  fields: readonly FieldSpec[],
  values: Readonly<Record<string, string>>,
): { body: Record<string, unknown>; errors: FieldError[] } {
  const body: Record<string, unknown> = {};
  const errors: FieldError[] = [];
  for (const field of fields) {
    const text = (values[field.name] ?? '').trim();
    if (text === '') {
      if (field.required) errors.push({ field: field.name, message: 'required' });
      continue;
    }
    const fail = (message: string) => errors.push({ field: field.name, message });
    switch (field.kind) {
      case 'integer':
      case 'number': {
        const n = parseNumber(text, field.kind === 'integer');
        if (n === undefined) fail(field.kind === 'integer' ? 'a whole number' : 'a number');
        else body[field.name] = n;
        break;
      }
      case 'boolean':
        body[field.name] = text === 'true';
        break;
      case 'oneOrList': {
        const parts = text.split(/[\s,]+/).filter(Boolean);
        const items = parts.map((p) => parseItem(p, field.itemType));
        if (items.some((v) => v === undefined)) fail(`one ${field.itemType} value, or a comma-separated list of them`);
        else body[field.name] = items.length === 1 && items[0] !== null ? items[0] : items;
        break;
      }
      case 'image': {
        // several chosen files arrive as base64 strings, one a line
        const images = text.split('\n').filter(Boolean);
        body[field.name] = images.length === 1 ? images[0] : images;
        break;
      }
      case 'list':
        body[field.name] = text.split(/[\s,]+/).filter(Boolean);
        break;
      case 'json': {
        try {
          const parsed: unknown = JSON.parse(text);
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail('a JSON object');
          else body[field.name] = parsed;
        } catch {
          fail('a JSON object, e.g. {"name": 0.8}');
        }
        break;
      }
      default:
        body[field.name] = field.kind === 'prompt' || field.kind === 'text' ? values[field.name] : text;
    }
  }
  return { body, errors };
}
