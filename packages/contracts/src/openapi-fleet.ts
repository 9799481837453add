/**
 * The fleet part of the OpenAPI document (merged in by openapi.ts): `GET /v1/workers` and
 * `GET /v1/queue`, for operator keys.
 */
import { z } from 'zod';
import { queueLaneSchema, queueSchema, workerSchema, workersSchema } from './fleet.schema.js';

type Json = Record<string, unknown>;

function component(schema: z.ZodType): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'output',
    unrepresentable: 'any',
    override: ({ jsonSchema }) => {
      if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    },
  }) as Json;
  return rest;
}

const json = (name: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } });
const response = (name: string) => ({ $ref: `#/components/responses/${name}` });
const forbidden = {
  description: 'The key is not an operator key (`forbidden`).',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
};

export function fleetSchemas(): Record<string, Json> {
  return {
    Worker: component(workerSchema),
    Workers: component(workersSchema),
    QueueLane: component(queueLaneSchema),
    Queue: component(queueSchema),
  };
}

export function fleetPaths(): Record<string, Json> {
  return {
    '/v1/workers': {
      get: {
        operationId: 'listWorkers',
        tags: ['operations'],
        summary: 'The live render workers (operator keys)',
        description:
          'Each worker announces itself and refreshes its entry every KILN_WORKER_HEARTBEAT_MS; one that misses ' +
          'three heartbeats (killed, lost) leaves the list by itself.',
        responses: {
          '200': { description: 'The workers.', content: json('Workers') },
          '401': response('Unauthorized'),
          '403': forbidden,
        },
      },
    },
    '/v1/queue': {
      get: {
        operationId: 'getQueue',
        tags: ['operations'],
        summary: 'The render queue by model family and lane, with its backlog (operator keys)',
        description:
          'Jobs by state and the backlog in estimated worker-seconds per model family and lane: the same figures ' +
          '`GET /metrics` exports as `kiln_backlog_worker_seconds{family,lane}` and `kiln_queue_jobs{family,lane,state}`.',
        responses: {
          '200': { description: 'The queue.', content: json('Queue') },
          '401': response('Unauthorized'),
          '403': forbidden,
        },
      },
    },
  };
}
