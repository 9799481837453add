import { z } from 'zod';
import { INT_TYPE_MESSAGE, quoteChoices } from './issue-messages.js';

/** One step of a `loc`: a field name or a list index. */
export type LocSegment = string | number;

/** One FastAPI/pydantic-style validation failure. */
export interface ValidationErrorDetail {
  /** Where: `["body", "steps"]`, `["body", "seed", 2]`, `["body"]` for the body as a whole. */
  loc: LocSegment[];
  /** Human-readable, pydantic wording where there is one. */
  msg: string;
  /** pydantic v2 error type: `missing`, `extra_forbidden`, `less_than_equal`, `int_from_float`, … */
  type: string;
  /** The bound or choices involved, as pydantic reports them (`{ "le": 200 }`). */
  ctx?: Record<string, unknown>;
}

/** The 422 body: FastAPI's `detail` list plus Kiln's machine-readable `error`. */
export interface ValidationErrorBody {
  detail: ValidationErrorDetail[];
  error: { code: 'invalid_request'; message: string };
}

/** Schema of {@link ValidationErrorBody}, for the OpenAPI document and for tests. */
export const validationErrorBodySchema = z
  .object({
    detail: z
      .array(
        z.object({
          loc: z
            .array(z.union([z.string(), z.int()]))
            .min(1)
            .describe('Path to the bad value, starting with "body".'),
          msg: z.string().describe('What is wrong, in words.'),
          type: z.string().describe('pydantic v2 error type, e.g. "less_than_equal", "missing", "extra_forbidden".'),
          ctx: z.record(z.string(), z.unknown()).optional().describe('The bound or choices involved.'),
        }),
      )
      .min(1)
      .describe("One entry per problem, in FastAPI's shape."),
    error: z.object({
      code: z.literal('invalid_request'),
      message: z.string().describe('One line naming the first bad field.'),
    }),
  })
  .meta({ description: 'The request body failed validation (FastAPI `HTTPValidationError` plus `error`).' });

/**
 * Turns a zod failure from a request schema into the 422 body. Issue paths become
 * `["body", ...path]`; unknown keys give one `extra_forbidden` detail per key; unions report the
 * branch the input was meant for. `body` (the raw request) lets it tell a missing field from a
 * wrong type when the parse did not use `reportInput` (see `VALIDATION_PARSE_PARAMS`).
 */
export function toValidationErrorBody(
  error: z.ZodError | readonly z.core.$ZodIssue[],
  body?: unknown,
): ValidationErrorBody {
  const issues = Array.isArray(error) ? (error as readonly z.core.$ZodIssue[]) : (error as z.ZodError).issues;
  const details = issues.flatMap((issue) => issueToDetails(issue, [], body));
  return validationErrorBody(
    details.length > 0 ? details : [{ loc: ['body'], msg: 'Invalid request body', type: 'value_error' }],
  );
}

/**
 * A 422 body for a problem found outside zod: `field` `"init_image"` → loc `["body","init_image"]`;
 * no field (e.g. the body is not JSON) → loc `["body"]`.
 */
export function bodyValidationError(
  field: string | readonly LocSegment[] | null | undefined,
  msg: string,
  type = 'value_error',
): ValidationErrorBody {
  const path = field === null || field === undefined ? [] : typeof field === 'string' ? [field] : [...field];
  return validationErrorBody([{ loc: ['body', ...path], msg, type }]);
}

/** Wraps details into the 422 body; `error.message` names the first bad field. */
export function validationErrorBody(details: readonly ValidationErrorDetail[]): ValidationErrorBody {
  const first = details[0];
  const where = first ? first.loc.slice(1).join('.') || 'body' : 'body';
  const more = details.length > 1 ? ` (and ${details.length - 1} more error${details.length > 2 ? 's' : ''})` : '';
  return {
    detail: [...details],
    error: { code: 'invalid_request', message: `${where}: ${first?.msg ?? 'Invalid request body'}${more}` },
  };
}

function issueToDetails(
  issue: z.core.$ZodIssue,
  prefix: readonly LocSegment[],
  body: unknown,
): ValidationErrorDetail[] {
  const path = [...prefix, ...issue.path.map(toSegment)];
  const loc: LocSegment[] = ['body', ...path];
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({
        loc: [...loc, key],
        msg: normalizeExtraMessage(issue.message),
        type: 'extra_forbidden',
      }));
    case 'invalid_key':
    case 'invalid_element':
      return issue.issues.flatMap((inner) => issueToDetails(inner, path, body));
    case 'invalid_union':
      return unionToDetails(issue, path, body);
    case 'invalid_type':
      return [{ loc, msg: issue.message, type: invalidTypeType(issue, loc, inputAt(issue, path, body)) }];
    case 'too_big':
    case 'too_small':
      return [{ loc, msg: issue.message, ...boundType(issue) }];
    case 'not_multiple_of':
      return [{ loc, msg: issue.message, type: 'multiple_of', ctx: { multiple_of: issue.divisor } }];
    case 'invalid_value':
      return [
        {
          loc,
          msg: issue.message,
          type: issue.values.length === 1 ? 'literal_error' : 'enum',
          ctx: { expected: quoteChoices(issue.values) },
        },
      ];
    case 'invalid_format':
      return [{ loc, msg: issue.message, type: issue.format === 'url' ? 'url_parsing' : 'string_pattern_mismatch' }];
    case 'custom': {
      const params = (issue.params ?? {}) as { type?: unknown; ctx?: unknown };
      return [
        {
          loc,
          msg: issue.message,
          type: typeof params.type === 'string' ? params.type : 'value_error',
          ...(isRecord(params.ctx) && { ctx: params.ctx }),
        },
      ];
    }
    default:
      return [{ loc, msg: (issue as z.core.$ZodIssueBase).message, type: 'value_error' }];
  }
}

/** zod's own wording lists the keys; one detail per key needs pydantic's key-free wording. */
function normalizeExtraMessage(message: string): string {
  return message.startsWith('Unrecognized key') ? 'Extra inputs are not permitted' : message;
}

/**
 * A union failed. Report the branch the input was aimed at: first one that failed deeper than
 * its root type (e.g. a seed list with a bad entry), else the one whose type matches the input
 * (1.5 against `int | list | null` → the int branch), else the union itself.
 */
function unionToDetails(
  issue: z.core.$ZodIssueInvalidUnion,
  path: readonly LocSegment[],
  body: unknown,
): ValidationErrorDetail[] {
  const branches = issue.errors.filter((branch) => branch.length > 0);
  const deeper = branches.find((branch) => !branch.every(isRootTypeMismatch));
  if (deeper) return deeper.flatMap((inner) => issueToDetails(inner, path, body));
  const input = inputAt(issue, path, body);
  if (input.known) {
    const family = jsType(input.value);
    const matching = branches.find((branch) =>
      branch.some((inner) => inner.code === 'invalid_type' && typeFamily(inner.expected) === family),
    );
    if (matching) return matching.flatMap((inner) => issueToDetails(inner, path, body));
  }
  const firstType = branches[0]?.[0];
  const type = firstType ? (issueToDetails(firstType, path, body)[0]?.type ?? 'value_error') : 'value_error';
  return [{ loc: ['body', ...path], msg: issue.message, type }];
}

function isRootTypeMismatch(issue: z.core.$ZodIssue): boolean {
  return issue.code === 'invalid_type' && issue.path.length === 0;
}

function invalidTypeType(
  issue: z.core.$ZodIssueInvalidType,
  loc: readonly LocSegment[],
  input: { known: boolean; value?: unknown },
): string {
  const missing = input.known ? input.value === undefined : /received undefined|Field required/.test(issue.message);
  if (missing) return 'missing';
  const value = input.value;
  // z.int() reports a non-number as `expected: "number"`; the error map's wording tells them apart.
  const expected = issue.expected === 'number' && issue.message.startsWith(INT_TYPE_MESSAGE) ? 'int' : issue.expected;
  // JSON.parse turns 1e400 into Infinity; pydantic calls that finite_number.
  if (typeof value === 'number' && !Number.isFinite(value)) return 'finite_number';
  switch (expected) {
    case 'never':
      return 'extra_forbidden';
    case 'int':
      if (typeof value === 'number') return 'int_from_float';
      return typeof value === 'string' ? 'int_parsing' : 'int_type';
    case 'number':
      return typeof value === 'string' ? 'float_parsing' : 'float_type';
    case 'string':
      return 'string_type';
    case 'boolean':
      return 'bool_type';
    case 'array':
      return 'list_type';
    case 'object':
    case 'record':
      return loc.length === 1 ? 'model_attributes_type' : 'dict_type';
    case 'null':
      return 'none_required';
    default:
      return `${expected}_type`;
  }
}

function boundType(
  issue: z.core.$ZodIssueTooBig | z.core.$ZodIssueTooSmall,
): Pick<ValidationErrorDetail, 'type' | 'ctx'> {
  const big = issue.code === 'too_big';
  const bound = big ? (issue as z.core.$ZodIssueTooBig).maximum : (issue as z.core.$ZodIssueTooSmall).minimum;
  const inclusive = issue.inclusive !== false;
  const limit = typeof bound === 'bigint' ? Number(bound) : bound;
  switch (issue.origin) {
    case 'string':
      return big
        ? { type: 'string_too_long', ctx: { max_length: limit } }
        : { type: 'string_too_short', ctx: { min_length: limit } };
    case 'array':
    case 'set':
      return big ? { type: 'too_long', ctx: { max_length: limit } } : { type: 'too_short', ctx: { min_length: limit } };
    default:
      if (big)
        return inclusive ? { type: 'less_than_equal', ctx: { le: limit } } : { type: 'less_than', ctx: { lt: limit } };
      return inclusive
        ? { type: 'greater_than_equal', ctx: { ge: limit } }
        : { type: 'greater_than', ctx: { gt: limit } };
  }
}

/** The input an issue was about: from the issue (`reportInput`), else looked up in the raw body. */
function inputAt(
  issue: z.core.$ZodIssueBase,
  path: readonly LocSegment[],
  body: unknown,
): { known: boolean; value?: unknown } {
  if ('input' in issue) return { known: true, value: issue.input };
  if (body === undefined) return { known: false };
  let value: unknown = body;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return { known: true, value: undefined };
    value = Object.hasOwn(value, segment) ? (value as Record<LocSegment, unknown>)[segment] : undefined;
  }
  return { known: true, value };
}

function jsType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function typeFamily(expected: string): string {
  if (expected === 'int' || expected === 'number') return 'number';
  if (expected === 'record') return 'object';
  return expected;
}

function toSegment(key: PropertyKey): LocSegment {
  return typeof key === 'symbol' ? String(key) : key;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
