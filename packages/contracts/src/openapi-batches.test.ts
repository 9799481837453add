import { describe, expect, it } from 'vitest';
import { batchItemSchema, batchResultLineSchema, batchSchema } from './batches.schema.js';
import { buildOpenApiDocument } from './openapi.js';

type Json = Record<string, any>;
const doc = buildOpenApiDocument() as Json;

describe('OpenAPI: batches and webhooks', () => {
  it.each([
    ['/v1/batches', 'post', '201'],
    ['/v1/batches', 'get', '200'],
    ['/v1/batches/{id}', 'get', '200'],
    ['/v1/batches/{id}/results', 'get', '200'],
    ['/v1/batches/{id}/cancel', 'post', '200'],
    ['/v1/batches/{id}/webhooks', 'get', '200'],
    ['/v1/jobs/{id}/webhooks', 'get', '200'],
  ])('documents %s %s', (path, method, ok) => {
    expect(doc.paths[path]?.[method]?.responses[ok]).toBeDefined();
  });

  it('takes JSON and JSONL uploads and answers the Batch schema', () => {
    const post = doc.paths['/v1/batches'].post;
    expect(post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/BatchSubmit');
    expect(post.requestBody.content['application/x-ndjson']).toBeDefined();
    expect(post.responses['201'].content['application/json'].schema.$ref).toBe('#/components/schemas/Batch');
    expect(post.responses['413']).toBeDefined();
    expect(doc.components.schemas.BatchItem.required).toEqual(expect.arrayContaining(['custom_id', 'url', 'body']));
  });

  it('describes what Kiln POSTs to a webhook_url, with the Standard Webhooks headers', () => {
    const job = doc.webhooks.jobEvent.post;
    expect(job.parameters.map((p: Json) => p.name)).toEqual(['webhook-id', 'webhook-timestamp', 'webhook-signature']);
    expect(job.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/JobWebhookPayload');
    expect(doc.components.schemas.JobWebhookPayload.properties.type.enum).toEqual([
      'job.started',
      'job.progress',
      'job.completed',
      'job.failed',
      'job.canceled',
    ]);
  });

  it('schemas accept what the API sends', () => {
    expect(batchItemSchema.safeParse({ custom_id: 'a', url: '/generate/sd', body: { prompt: 'x' } }).success).toBe(
      true,
    );
    expect(batchItemSchema.safeParse({ custom_id: 'a', url: '/generate/xl', body: {} }).success).toBe(false);
    expect(
      batchSchema.safeParse({
        id: 'b',
        object: 'batch',
        status: 'in_progress',
        counts: { total: 2, invalid: 0, queued: 1, running: 1, completed: 0, failed: 0, canceled: 0, reused: 0 },
        progress: { done: 0, total: 2, fraction: 0 },
        created_at: new Date().toISOString(),
        finished_at: null,
        canceled_at: null,
        webhook_url: null,
        webhook_events: [],
        results_url: 'http://x/v1/batches/b/results',
      }).success,
    ).toBe(true);
    expect(
      batchResultLineSchema.safeParse({
        custom_id: 'a',
        index: 0,
        line: 1,
        job_id: 'j',
        status: 'completed',
        seeds: [1],
        images: [{ index: 0, seed: 1, url: 'http://x/v1/jobs/j/images/0', content_type: 'image/png' }],
        model: 'tiny-sd15',
        reused: false,
        finished_at: new Date().toISOString(),
        error: null,
      }).success,
    ).toBe(true);
  });
});
