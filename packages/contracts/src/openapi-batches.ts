/**
 * The batch and webhook parts of the OpenAPI document (merged in by openapi.ts): batch paths,
 * `GET /v1/jobs/{id}/webhooks`, and the webhook payloads as OpenAPI 3.1 `webhooks`.
 */
import { toComponent } from './openapi-component.js';
import {
  BATCH_JSONL_TYPES,
  BATCH_WEBHOOK_EVENTS,
  batchItemSchema,
  batchListSchema,
  batchResultLineSchema,
  batchSchema,
  batchSubmitSchema,
} from './batches.schema.js';
import { batchWebhookPayloadSchema, jobWebhookPayloadSchema, webhookDeliveriesSchema } from './webhooks.schema.js';

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ 'application/json': { schema: ref(name) } });
const response = (name: string) => ({ $ref: `#/components/responses/${name}` });
const idParameter = (what: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description: what,
  schema: { type: 'string', minLength: 1 },
});

export function batchSchemas(): Record<string, Json> {
  const list = toComponent(batchListSchema, 'output');
  (list.properties as Json).batches = { type: 'array', items: ref('Batch') };
  return {
    BatchItem: toComponent(batchItemSchema, 'input'),
    BatchSubmit: toComponent(batchSubmitSchema, 'input'),
    Batch: toComponent(batchSchema, 'output'),
    BatchList: list,
    BatchResultLine: toComponent(batchResultLineSchema, 'output'),
    WebhookDeliveries: toComponent(webhookDeliveriesSchema, 'output'),
    JobWebhookPayload: toComponent(jobWebhookPayloadSchema, 'output'),
    BatchWebhookPayload: toComponent(batchWebhookPayloadSchema, 'output'),
  };
}

const webhooksGet = (operationId: string, what: string) => ({
  get: {
    operationId,
    tags: ['webhooks'],
    summary: `Webhook messages of a ${what} and every delivery attempt`,
    description:
      'Each message (`webhook-id`) with its attempts: time, HTTP status or error, duration, attempt number, and when the next ' +
      'attempt is due. Failed deliveries are retried with exponential backoff (default 10 attempts over about 8.5 hours).',
    responses: {
      '200': { description: 'The messages and attempts.', content: json('WebhookDeliveries') },
      '401': response('Unauthorized'),
      '404': response('NotFound'),
    },
  },
});

export function batchPaths(): Record<string, Json> {
  const jsonl = Object.fromEntries(
    BATCH_JSONL_TYPES.map((type) => [
      type,
      { schema: { type: 'string', description: 'One BatchItem JSON per line.' }, 'x-item-schema': ref('BatchItem') },
    ]),
  );
  return {
    '/v1/batches': {
      post: {
        operationId: 'createBatch',
        tags: ['batches'],
        summary: 'Submit a batch (JSON or JSONL, up to 100 000 items)',
        description:
          'Each item is validated with the schema of its `url` (`/generate/sd` or `/generate/sd3`); a bad item is reported with its ' +
          'line and `custom_id` and the others go on. The body is read as it streams in. Items whose `custom_id` and body match a job ' +
          'of an earlier batch of the caller are not rendered again (`counts.reused`). Items run after interactive and async requests, ' +
          'and tenants share workers fairly (docs/fairness.md). Answers 201 as soon as every item is queued.',
        parameters: [
          { $ref: '#/components/parameters/IdempotencyKey' },
          {
            name: 'webhook_url',
            in: 'query',
            required: false,
            description: 'Batch webhook URL (JSONL uploads; the JSON form takes it in the body).',
            schema: { type: 'string', format: 'uri' },
          },
          {
            name: 'webhook_events',
            in: 'query',
            required: false,
            description: `Comma-separated batch events: ${BATCH_WEBHOOK_EVENTS.join(', ')}; default completed.`,
            schema: { type: 'string' },
          },
        ],
        requestBody: { required: true, content: { ...json('BatchSubmit'), ...jsonl } },
        responses: {
          '201': { description: 'Queued. `errors` lists the refused items.', content: json('Batch') },
          '401': response('Unauthorized'),
          '409': response('Conflict'),
          '413': response('PayloadTooLarge'),
          '415': { description: 'Not JSON or JSONL.', content: json('ErrorBody') },
          '422': response('ValidationFailed'),
          '429': response('RateLimited'),
          '503': response('Unavailable'),
        },
      },
      get: {
        operationId: 'listBatches',
        tags: ['batches'],
        summary: "The caller's batches, newest first",
        parameters: [
          {
            name: 'limit',
            in: 'query',
            required: false,
            schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
          },
        ],
        responses: {
          '200': { description: 'The batches.', content: json('BatchList') },
          '401': response('Unauthorized'),
        },
      },
    },
    '/v1/batches/{id}': {
      parameters: [idParameter('The batch id.')],
      get: {
        operationId: 'getBatch',
        tags: ['batches'],
        summary: 'Counts by state and progress of a batch',
        responses: {
          '200': { description: 'The batch.', content: json('Batch') },
          '401': response('Unauthorized'),
          '404': response('NotFound'),
        },
      },
    },
    '/v1/batches/{id}/results': {
      parameters: [idParameter('The batch id.')],
      get: {
        operationId: 'getBatchResults',
        tags: ['batches'],
        summary: 'One JSONL line per item: custom_id, status, seeds, image URLs, error',
        description:
          'Items in upload order (refused ones included, `status: "invalid"`). With `order=finished`, only items that have ended, ' +
          'in the order they ended, from position `offset`: poll with the count received so far to download as results come in.',
        parameters: [
          {
            name: 'order',
            in: 'query',
            required: false,
            schema: { type: 'string', enum: ['input', 'finished'], default: 'input' },
          },
          { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
          {
            name: 'image_urls',
            in: 'query',
            required: false,
            description:
              '`1`: each image also gets `image_url`, a presigned, expiring URL straight to the object store (S3 storage only), and `sha256`.',
            schema: { type: 'string', enum: ['0', '1'], default: '0' },
          },
        ],
        responses: {
          '200': {
            description: 'JSONL.',
            content: {
              'application/x-ndjson': { schema: { type: 'string' }, 'x-item-schema': ref('BatchResultLine') },
            },
          },
          '401': response('Unauthorized'),
          '404': response('NotFound'),
        },
      },
    },
    '/v1/batches/{id}/cancel': {
      parameters: [idParameter('The batch id.')],
      post: {
        operationId: 'cancelBatch',
        tags: ['batches'],
        summary: 'Cancel every item not yet done',
        description:
          'Queued items end `canceled` at once; running ones stop at their next denoising step. Finished items keep their results. ' +
          'The batch is `canceling` until its running items have stopped, then `canceled`. Canceling an ended batch → 409.',
        responses: {
          '200': { description: 'The batch after the cancel.', content: json('Batch') },
          '401': response('Unauthorized'),
          '404': response('NotFound'),
          '409': response('Conflict'),
        },
      },
    },
    '/v1/batches/{id}/webhooks': {
      parameters: [idParameter('The batch id.')],
      ...webhooksGet('getBatchWebhooks', 'batch'),
    },
    '/v1/jobs/{id}/webhooks': { parameters: [idParameter('The job id.')], ...webhooksGet('getJobWebhooks', 'job') },
  };
}

/** OpenAPI 3.1 `webhooks`: what Kiln POSTs to a `webhook_url`. */
export function webhookDefinitions(): Record<string, Json> {
  const headers = [
    {
      name: 'webhook-id',
      in: 'header',
      required: true,
      description: 'Message id, the same on every attempt (deduplicate on it).',
      schema: { type: 'string' },
    },
    {
      name: 'webhook-timestamp',
      in: 'header',
      required: true,
      description: 'Unix seconds of this attempt.',
      schema: { type: 'string' },
    },
    {
      name: 'webhook-signature',
      in: 'header',
      required: true,
      description:
        '`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the API key\'s `webhook_secret` (Standard Webhooks).',
      schema: { type: 'string' },
    },
  ];
  const hook = (operationId: string, schema: string, summary: string) => ({
    post: {
      operationId,
      summary,
      parameters: headers,
      requestBody: { required: true, content: json(schema) },
      responses: {
        '200': { description: 'Any 2xx acknowledges; anything else (or no answer within the timeout) is retried.' },
      },
    },
  });
  return {
    jobEvent: hook('jobEvent', 'JobWebhookPayload', 'A job event (`webhook_url` of a request or batch item)'),
    batchEvent: hook('batchEvent', 'BatchWebhookPayload', 'A batch event (`webhook_url` of a batch)'),
  };
}
