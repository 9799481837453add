/**
 * The fleet part of the OpenAPI document (merged in by openapi.ts): `GET /v1/workers` and
 * `GET /v1/queue`, for operator keys.
 */
import { toComponent } from './openapi-component.js';
import { queueLaneSchema, queueSchema, workerSchema, workersSchema } from './fleet.schema.js';

type Json = Record<string, unknown>;

const json = (name: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } });
const response = (name: string) => ({ $ref: `#/components/responses/${name}` });
const forbidden = {
  description: 'The key is not an operator key (`forbidden`).',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
};

export function fleetSchemas(): Record<string, Json> {
  return {
    Worker: toComponent(workerSchema),
    Workers: toComponent(workersSchema),
    QueueLane: toComponent(queueLaneSchema),
    Queue: toComponent(queueSchema),
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
