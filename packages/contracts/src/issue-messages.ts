import type { z } from 'zod';

/**
 * A zod error map that words issues the way pydantic v2 (and so FastAPI and OctoAI) does:
 * "Field required", "Input should be less than or equal to 200", "Extra inputs are not permitted".
 * Messages set on a schema itself (e.g. "checkpoint is supported by SD1.5 only") take precedence.
 * Pass it per parse: `schema.safeParse(body, VALIDATION_PARSE_PARAMS)`.
 */
export const pydanticStyleErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      // z.int() reports a non-number as `expected: "number"`; its schema's format says it is an int.
      return invalidTypeMessage(
        issue.expected === 'number' && isIntSchema(issue.inst) ? 'int' : issue.expected,
        issue.input,
      );
    case 'too_big':
      return boundMessage(issue.origin, 'max', Number(issue.maximum), issue.inclusive !== false);
    case 'too_small':
      return boundMessage(issue.origin, 'min', Number(issue.minimum), issue.inclusive !== false);
    case 'not_multiple_of':
      return `Input should be a multiple of ${String(issue.divisor)}`;
    case 'invalid_value':
      return `Input should be ${quoteChoices(issue.values)}`;
    case 'unrecognized_keys':
      return 'Extra inputs are not permitted';
    case 'invalid_format':
      return issue.format === 'url' ? 'Input should be a valid URL' : `Input should be a valid ${issue.format}`;
    default:
      return undefined;
  }
};

/** Parse options every request validation in Kiln uses: pydantic-style messages, inputs kept on issues. */
export const VALIDATION_PARSE_PARAMS = {
  error: pydanticStyleErrorMap,
  reportInput: true,
} as const satisfies z.core.ParseContext<z.core.$ZodIssue>;

/** The wording of a non-integer given to an integer field (also used to recognise int issues). */
export const INT_TYPE_MESSAGE = 'Input should be a valid integer';

function isIntSchema(inst: unknown): boolean {
  const def = (inst as { _zod?: { def?: { format?: unknown } } } | undefined)?._zod?.def;
  return typeof def?.format === 'string' && def.format.includes('int');
}

/** `'a', 'b' or 'c'`, the way pydantic lists enum members. */
export function quoteChoices(values: readonly unknown[]): string {
  const quoted = values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v)));
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
}

function invalidTypeMessage(expected: string, input: unknown): string {
  if (input === undefined) return 'Field required';
  if (typeof input === 'number' && !Number.isFinite(input) && (expected === 'number' || expected === 'int')) {
    return 'Input should be a finite number';
  }
  switch (expected) {
    case 'int':
      return typeof input === 'number' ? `${INT_TYPE_MESSAGE}, got a number with a fractional part` : INT_TYPE_MESSAGE;
    case 'number':
      return 'Input should be a valid number';
    case 'string':
      return 'Input should be a valid string';
    case 'boolean':
      return 'Input should be a valid boolean';
    case 'array':
      return 'Input should be a valid list';
    case 'object':
    case 'record':
      return 'Input should be a valid dictionary';
    case 'null':
      return 'Input should be None';
    case 'never':
      return 'Extra inputs are not permitted';
    default:
      return `Input should be a valid ${expected}`;
  }
}

function boundMessage(origin: string, side: 'min' | 'max', bound: number, inclusive: boolean): string {
  const amount = (unit: string): string => `${bound} ${unit}${bound === 1 ? '' : 's'}`;
  switch (origin) {
    case 'string':
      return `String should have ${side === 'max' ? 'at most' : 'at least'} ${amount('character')}`;
    case 'array':
    case 'set':
      return `List should have ${side === 'max' ? 'at most' : 'at least'} ${amount('item')}`;
    default: {
      const relation = side === 'max' ? 'less than' : 'greater than';
      return `Input should be ${relation}${inclusive ? ' or equal to' : ''} ${bound}`;
    }
  }
}
