import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from './openapi.js';

type Json = Record<string, any>;
const doc = buildOpenApiDocument() as Json;

describe('OpenAPI: job listing, cancel and usage', () => {
  it('documents GET /v1/jobs with its query and a page of Job references', () => {
    const op = doc.paths['/v1/jobs'].get;
    expect(op.parameters.map((p: Json) => p.name)).toEqual(['status', 'batch_id', 'limit', 'cursor']);
    expect(op.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/JobList');
    const list = doc.components.schemas.JobList;
    expect(list.properties.jobs.items).toEqual({ $ref: '#/components/schemas/Job' });
    expect(list.required).toEqual(['jobs', 'next_cursor']);
  });

  it('documents POST /v1/jobs/{id}/cancel: 200 ended, 202 stopping, 409 already ended, Idempotency-Key', () => {
    const op = doc.paths['/v1/jobs/{id}/cancel'].post;
    for (const status of ['200', '202', '404', '409', '429']) expect(op.responses[status], status).toBeDefined();
    expect(op.parameters).toContainEqual({ $ref: '#/components/parameters/IdempotencyKey' });
  });

  it('documents GET /v1/usage and its counters', () => {
    const op = doc.paths['/v1/usage'].get;
    expect(op.parameters.map((p: Json) => p.name)).toEqual(['from', 'to', 'key_id']);
    const row = doc.components.schemas.UsageRow;
    expect(Object.keys(row.properties)).toEqual(
      expect.arrayContaining(['date', 'key_id', 'jobs', 'images', 'steps', 'megapixel_steps', 'worker_seconds']),
    );
  });

  it('the Job document has the fields the API sends', () => {
    expect(doc.components.schemas.Job.required).toEqual(
      expect.arrayContaining(['custom_id', 'batch_id', 'attempts_made', 'cancel_requested', 'queue_position', 'error']),
    );
  });

  it('every GET that reads a job can answer 429', () => {
    for (const path of ['/v1/jobs/{id}', '/v1/requests/{id}', '/v1/responses/{id}', '/v1/jobs/{id}/images/{index}']) {
      expect(doc.paths[path].get.responses['429'], path).toBeDefined();
    }
  });
});

describe('OpenAPI: metrics', () => {
  it('documents GET /metrics as unauthenticated Prometheus text', () => {
    const op = doc.paths['/metrics'].get;
    expect(op.security).toEqual([]);
    expect(Object.keys(op.responses['200'].content)).toEqual(['text/plain']);
  });
});
