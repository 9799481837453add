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
  'text' | 'prompt' | 'integer' | 'number' | 'boolean' | 'choice' | 'image' | 'seed' | 'json' | 'list';

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

/** The schema of a value without its `null` ("not given") branch; undefined when no value is accepted at all. */
function valueBranches(schema: JsonSchema): JsonSchema[] {
  const branches = (schema.anyOf ?? [schema]).filter((b) => b.type !== 'null');
  // `{ not: {} }` is how the schema says "this engine refuses the field" (422 naming it).
  return branches.filter((b) => !(b.not && Object.keys(b.not).length === 0));
}

function kindOf(name: string, branches: JsonSchema[]): Pick<FieldSpec, 'kind' | 'options' | 'min' | 'max' | 'step'> {
  if (branches.some((b) => b.type === 'array') && branches.some((b) => b.type === 'integer')) return { kind: 'seed' };
  const [b] = branches;
  if (b.type === 'array') return { kind: 'list', options: b.items?.enum?.map(String) };
  if (b.type === 'object') return { kind: 'json' };
  if (b.type === 'boolean') return { kind: 'boolean' };
  if (b.enum) return { kind: 'choice', options: b.enum.map(String) };
  if (b.type === 'integer' || b.type === 'number') {
    return {
      kind: b.type,
      min: b.minimum ?? b.exclusiveMinimum,
      max: b.maximum,
      step: b.multipleOf ?? (b.type === 'integer' ? 1 : undefined),
    };
  }
  if (name.endsWith('_image')) return { kind: 'image' };
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
      case 'seed': {
        const parts = text.split(/[\s,]+/).filter(Boolean);
        const seeds = parts.map((p) => (p === 'null' || p === 'random' ? null : parseNumber(p, true)));
        if (seeds.some((s) => s === undefined)) fail('a whole number, or a comma-separated list (null = random)');
        else body[field.name] = parts.length === 1 && seeds[0] !== null ? seeds[0] : seeds;
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
