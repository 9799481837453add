/** Query-string parsing with the FastAPI 422 shape (`loc: ["query", name]`). */
import { KilnError } from '@kiln/contracts';

export class QueryValidationError extends KilnError {
  constructor(param: string, message: string) {
    super('invalid_request', `${param}: ${message}`, {
      validation: [{ loc: ['query', param], msg: `${param}: ${message}`, type: 'value_error' }],
    });
  }
}

/** One query parameter as a string (the last one when repeated), or undefined. */
export function queryString(query: Record<string, unknown>, name: string): string | undefined {
  const value = query[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return queryString({ [name]: value[value.length - 1] }, name);
  if (typeof value !== 'string') throw new QueryValidationError(name, 'must be a single value');
  return value;
}

/** An integer parameter within [min, max], or `fallback` when absent. */
export function queryInt(
  query: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = queryString(query, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new QueryValidationError(name, `must be an integer from ${min} to ${max}`);
  return n;
}
