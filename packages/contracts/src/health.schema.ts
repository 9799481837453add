import { z } from 'zod';

/** The body of `GET /healthz`: the process is up. */
export const healthSchema = z
  .object({ status: z.literal('ok') })
  .meta({ title: 'Health', description: 'The API process is up.' });

/** One readiness check. */
export const readinessCheckSchema = z.object({
  ok: z.boolean().describe('Whether this dependency is usable.'),
  detail: z.string().optional().describe('Why not, or what was seen (e.g. the last worker heartbeat).'),
});

/** The body of `GET /readyz`: 200 when every check passes, 503 otherwise. */
export const readinessSchema = z
  .object({
    status: z.enum(['ready', 'not_ready']).describe('`ready` when every check passes.'),
    checks: z
      .record(z.string(), readinessCheckSchema)
      .describe('By name: `redis` (reachable) and `worker` (a worker seen recently).'),
    redis: z.boolean().optional().describe('Whether Redis answered (the `redis` check).'),
    workers: z
      .int()
      .min(0)
      .optional()
      .describe('Live workers: those whose heartbeat has not lapsed (the `worker` check); see GET /v1/workers.'),
  })
  .meta({ title: 'Readiness', description: 'Whether Kiln can take work now.' });

/** The body of `GET /healthz`. */
export type Health = z.output<typeof healthSchema>;
/** The body of `GET /readyz`. */
export type Readiness = z.output<typeof readinessSchema>;
