/** JSON Schema 2020-12 of a zod schema, as an OpenAPI 3.1 component (no `$schema` member): every part of the document uses it. */
import { z } from 'zod';

export function toComponent(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    // `format: date-time` says it all; zod's long validation regex would only add noise.
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    },
  }) as Record<string, unknown>;
  return rest;
}
