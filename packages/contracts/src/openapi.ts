import { z } from 'zod';
import { toComponent } from './openapi-component.js';
import { ERROR_CODES, ERROR_DESCRIPTIONS, ERROR_STATUS, errorBodySchema } from './errors.js';
import { createSd15RequestSchema, createSd3RequestSchema } from './generate-request.schema.js';
import { asyncAcceptedSchema, imageGenerationResponseSchema, requestStatusSchema } from './generate-response.schema.js';
import { healthSchema, readinessSchema } from './health.schema.js';
import { IMAGE_CONTENT_TYPES, jobSchema } from './jobs.schema.js';
import { JOB_LIST_QUERY, jobListSchema } from './job-list.schema.js';
import { usageRowSchema, usageSchema } from './usage.schema.js';
import { assetPaths, assetSchemas } from './openapi-assets.js';
import { batchPaths, batchSchemas, webhookDefinitions } from './openapi-batches.js';
import { fleetPaths, fleetSchemas } from './openapi-fleet.js';
import type { ModelFamily } from './model-family.js';
import { GENERATE_PATHS } from './model-family.js';
import { withEngines } from './openapi-fields.js';
import { acceptsNull } from './request-fields.js';
import { RESOLUTIONS } from './resolutions.js';
import { STYLE_PRESET_NAMES } from './style-presets.js';
import { validationErrorBodySchema } from './validation-error.js';

/** Options of {@link buildOpenApiDocument}. */
export interface OpenApiOptions {
  /** Base URL listed under `servers` (e.g. `KILN_PUBLIC_URL`); omitted when unset. */
  serverUrl?: string;
  /** Whether the operator allows any multiple-of-8 size (`KILN_ALLOW_ANY_RESOLUTION=1`). Default false. */
  allowAnyResolution?: boolean;
  /** `info.version`; default `0.1.0`. */
  version?: string;
}

/** A JSON object; the document is plain JSON, ready for `res.json()`. */
export type OpenApiDocument = Record<string, unknown> & {
  openapi: '3.1.0';
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Record<string, unknown>> } & Record<string, unknown>;
};

/** Keywords that describe a property rather than constrain its value: they stay outside `anyOf`. */
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', 'deprecated', 'readOnly', 'writeOnly']);

/**
 * The property as "this or null", the way pydantic writes an `Optional` field: `anyOf` of the
 * value's own schema and `{"type": "null"}`, with the annotations (description, default) outside.
 */
function nullable(property: Record<string, unknown>): Record<string, unknown> {
  const anyOf = property.anyOf as Record<string, unknown>[] | undefined;
  if (anyOf?.some((option) => option.type === 'null')) return property;
  const outside = Object.entries(property).filter(([key]) => ANNOTATIONS.has(key));
  const value = Object.fromEntries(Object.entries(property).filter(([key]) => !ANNOTATIONS.has(key)));
  return { anyOf: [value, { type: 'null' }], ...Object.fromEntries(outside) };
}

/** Marks as nullable every property whose field reads `null` as "not given" (see `nullMeansAbsent`). */
function withNullability(
  component: Record<string, unknown>,
  shape: Record<string, z.ZodType>,
): Record<string, unknown> {
  const properties = component.properties as Record<string, Record<string, unknown>>;
  for (const [field, schema] of Object.entries(shape)) {
    if (acceptsNull(schema) && properties[field]) properties[field] = nullable(properties[field]);
  }
  return component;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schemaName: string) => ({ 'application/json': { schema: ref(schemaName) } });
const responseRef = (name: string) => ({ $ref: `#/components/responses/${name}` });
const parameterRef = (name: string) => ({ $ref: `#/components/parameters/${name}` });

const retryAfterHeader = {
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
};

/** Error codes that answer with a given status, for response descriptions. */
function codesFor(status: number): string {
  return ERROR_CODES.filter((code) => ERROR_STATUS[code] === status)
    .map((code) => `\`${code}\``)
    .join(', ');
}

function errorResponse(status: number, summary: string, headers?: Record<string, unknown>) {
  return {
    description: `${summary} Codes: ${codesFor(status)}.`,
    ...(headers && { headers }),
    content: jsonContent('ErrorBody'),
  };
}

function generateOperation(family: ModelFamily) {
  const label = family === 'sd15' ? 'Stable Diffusion 1.5' : 'Stable Diffusion 3 Medium';
  return {
    post: {
      operationId: family === 'sd15' ? 'generateSd15' : 'generateSd3',
      tags: ['generation'],
      summary: `Generate images with ${label}`,
      description:
        'OctoAI-compatible text-to-image, img2img, inpainting and outpainting. Without `X-OctoAI-Async` the ' +
        'call waits for the images (200); with `X-OctoAI-Async: 1` it answers 201 at once with a `poll_url`.',
      parameters: [parameterRef('OctoAiAsync'), parameterRef('IdempotencyKey'), parameterRef('KilnDedupe')],
      requestBody: {
        required: true,
        content: jsonContent(family === 'sd15' ? 'Sd15GenerateRequest' : 'Sd3GenerateRequest'),
      },
      responses: {
        '200': {
          description: 'The generated images (synchronous call).',
          headers: {
            'X-Kiln-Dedupe': {
              description:
                "`attached`: an identical request of this caller had an open job, and this answer is that job's.",
              schema: { type: 'string', enum: ['attached'] },
            },
          },
          content: jsonContent('ImageGenerationResponse'),
        },
        '201': {
          description: 'Queued (request sent with `X-OctoAI-Async: 1`); poll `poll_url`.',
          content: jsonContent('AsyncAccepted'),
        },
        '400': responseRef('BadImage'),
        '401': responseRef('Unauthorized'),
        '409': responseRef('Conflict'),
        '413': responseRef('PayloadTooLarge'),
        '422': responseRef('ValidationFailed'),
        '429': responseRef('RateLimited'),
        '500': responseRef('InternalError'),
        '503': responseRef('Unavailable'),
        '504': responseRef('Timeout'),
      },
    },
  };
}

function getOperation(
  tag: 'async' | 'jobs',
  operationId: string,
  summary: string,
  ok: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) {
  return {
    get: {
      operationId,
      tags: [tag],
      summary,
      responses: {
        '200': ok,
        '401': responseRef('Unauthorized'),
        '404': responseRef('NotFound'),
        '429': responseRef('RateLimited'),
        ...extra,
      },
    },
  };
}

/** `GET /v1/style-presets`: `{ presets: [{ name, prompt, negative_prompt }] }`. */
function stylePresetListComponent(): Record<string, unknown> {
  const preset = z.object({
    name: z.enum(STYLE_PRESET_NAMES).describe('The `style_preset` value.'),
    prompt: z.string().describe("Positive template; `{prompt}` stands for the request's prompt."),
    negative_prompt: z
      .string()
      .describe("Appended to the request's `negative_prompt` (after a comma when both are non-empty)."),
  });
  return toComponent(z.object({ presets: z.array(preset) }), 'output');
}

/** A list component whose items are jobs: point them at the `Job` component instead of a copy. */
function withJobRefs(component: Record<string, unknown>): Record<string, unknown> {
  const properties = component.properties as Record<string, Record<string, unknown>>;
  properties.jobs = { ...properties.jobs, items: ref('Job') };
  return component;
}

/**
 * The OpenAPI 3.1 document of Kiln's HTTP API, generated from the same zod schemas the API
 * validates with (`z.toJSONSchema`, draft 2020-12; request bodies as clients send them,
 * responses as Kiln sends them). Served at `GET /openapi.json`.
 */
export function buildOpenApiDocument(opts: OpenApiOptions = {}): OpenApiDocument {
  const schemaOptions = { allowAnyResolution: opts.allowAnyResolution ?? false };
  const requestComponent = (family: ModelFamily) => {
    const schema = family === 'sd15' ? createSd15RequestSchema(schemaOptions) : createSd3RequestSchema(schemaOptions);
    const component = withEngines(withNullability(toComponent(schema, 'input'), schema.shape));
    if (!schemaOptions.allowAnyResolution) {
      // JSON Schema cannot say "(width, height) is one of these pairs"; list them as an extension.
      component['x-allowed-resolutions'] = RESOLUTIONS[family].map(([width, height]) => ({ width, height }));
    }
    return component;
  };

  const schemas: Record<string, Record<string, unknown>> = {
    Sd15GenerateRequest: requestComponent('sd15'),
    Sd3GenerateRequest: requestComponent('sd3'),
    ImageGenerationResponse: toComponent(imageGenerationResponseSchema, 'output'),
    AsyncAccepted: toComponent(asyncAcceptedSchema, 'output'),
    RequestStatus: toComponent(requestStatusSchema, 'output'),
    Job: toComponent(jobSchema, 'output'),
    JobList: withJobRefs(toComponent(jobListSchema, 'output')),
    Usage: toComponent(usageSchema, 'output'),
    UsageRow: toComponent(usageRowSchema, 'output'),
    ...batchSchemas(),
    ...assetSchemas(),
    ...fleetSchemas(),
    StylePresetList: stylePresetListComponent(),
    Health: toComponent(healthSchema, 'output'),
    Readiness: toComponent(readinessSchema, 'output'),
    ErrorBody: toComponent(errorBodySchema, 'output'),
    HTTPValidationError: toComponent(validationErrorBodySchema, 'output'),
    ErrorCode: {
      type: 'string',
      enum: [...ERROR_CODES],
      description: ERROR_CODES.map((code) => `- \`${code}\` (${ERROR_STATUS[code]}): ${ERROR_DESCRIPTIONS[code]}`).join(
        '\n',
      ),
      'x-http-status': { ...ERROR_STATUS },
    },
  };

  const idParameter = (description: string) => ({
    name: 'id',
    in: 'path',
    required: true,
    description,
    schema: { type: 'string', minLength: 1 },
  });

  const paths: Record<string, Record<string, unknown>> = {
    [GENERATE_PATHS.sd15]: generateOperation('sd15'),
    [GENERATE_PATHS.sd3]: generateOperation('sd3'),
    '/v1/requests/{id}': {
      parameters: [idParameter('The `response_id` from the 201 answer.')],
      ...getOperation('async', 'getRequestStatus', 'State of an async request', {
        description: "The request's state; `response_url` once completed.",
        content: jsonContent('RequestStatus'),
      }),
    },
    '/v1/responses/{id}': {
      parameters: [idParameter('The `response_id` from the 201 answer.')],
      ...getOperation(
        'async',
        'getResponse',
        'Result of a completed async request',
        { description: 'The same body a synchronous call answers.', content: jsonContent('ImageGenerationResponse') },
        {
          '409': errorResponse(409, 'The job has not finished (`not_ready`) or was canceled (`canceled`).'),
          '422': errorResponse(
            422,
            "The job failed because of its input (`input_rejected`, with FastAPI's `detail` at the field), as the " +
              'synchronous call would have answered.',
          ),
          '500': responseRef('InternalError'),
        },
      ),
    },
    '/v1/jobs/{id}': {
      parameters: [
        idParameter('The job id (the `id` of a response, the `response_id` of an async request).'),
        {
          name: 'image_urls',
          in: 'query',
          required: false,
          description:
            '`1`: each image also gets `image_url`, a presigned, expiring URL straight to the object store (S3 storage only), and `sha256`.',
          schema: { type: 'string', enum: ['0', '1'], default: '0' },
        },
      ],
      ...getOperation('jobs', 'getJob', 'State, progress and results of a job', {
        description: 'The job.',
        content: jsonContent('Job'),
      }),
    },
    '/v1/jobs/{id}/images/{index}': {
      parameters: [
        idParameter('The job id.'),
        {
          name: 'index',
          in: 'path',
          required: true,
          description: "The image's position in seed order, 0-based.",
          schema: { type: 'integer', minimum: 0 },
        },
      ],
      ...getOperation('jobs', 'getJobImage', 'The bytes of one image of a job', {
        description: 'The image, with the content type of its encoding.',
        content: Object.fromEntries(
          Object.values(IMAGE_CONTENT_TYPES).map((type) => [
            type,
            { schema: { type: 'string', contentMediaType: type } },
          ]),
        ),
      }),
    },
    '/v1/jobs': {
      get: {
        operationId: 'listJobs',
        tags: ['jobs'],
        summary: "The caller's jobs, newest first, paged",
        description:
          "Jobs of the caller's tenant that are still retained, newest first. Filter by `status` and `batch_id`; " +
          'follow `next_cursor` for the next page.',
        parameters: Object.entries(JOB_LIST_QUERY).map(([name, description]) => ({
          name,
          in: 'query',
          required: false,
          description,
          schema:
            name === 'limit'
              ? { type: 'integer', minimum: 1, maximum: 200, default: 50 }
              : { type: 'string', ...(name === 'status' && { examples: ['queued,running'] }) },
        })),
        responses: {
          '200': { description: 'A page of jobs.', content: jsonContent('JobList') },
          '401': responseRef('Unauthorized'),
          '422': responseRef('ValidationFailed'),
          '429': responseRef('RateLimited'),
        },
      },
    },
    '/v1/jobs/{id}/cancel': {
      parameters: [idParameter('The job id.')],
      post: {
        operationId: 'cancelJob',
        tags: ['jobs'],
        summary: 'Cancel a job',
        description:
          'A queued job ends `canceled` at once (200). A running job stops at its next denoising step (202, ' +
          '`cancel_requested: true`; poll the job until it is `canceled`). A job that has already ended → 409.',
        parameters: [parameterRef('IdempotencyKey')],
        responses: {
          '200': {
            description: 'The job, now `canceled` (or ended: a replayed request).',
            content: jsonContent('Job'),
          },
          '202': {
            description: 'The job is running and will stop at its next denoising step.',
            content: jsonContent('Job'),
          },
          '401': responseRef('Unauthorized'),
          '404': responseRef('NotFound'),
          '409': errorResponse(409, 'The job has already ended, or the Idempotency-Key was used for another request.'),
          '429': responseRef('RateLimited'),
        },
      },
    },
    '/v1/style-presets': {
      get: {
        operationId: 'listStylePresets',
        tags: ['generation'],
        summary: 'The `style_preset` names and their prompt templates',
        description:
          "Every value `style_preset` takes, in OctoAI's order, with the template the prompt is put into (at " +
          '`{prompt}`) and the text appended to `negative_prompt`.',
        responses: {
          '200': { description: 'The presets.', content: jsonContent('StylePresetList') },
          '401': responseRef('Unauthorized'),
          '429': responseRef('RateLimited'),
        },
      },
    },
    '/v1/usage': {
      get: {
        operationId: 'getUsage',
        tags: ['usage'],
        summary: 'Usage per API key and day',
        description:
          "Jobs, images, denoising steps, megapixel-steps and worker-seconds of the caller's tenant, per API key and UTC " +
          'day, counted once per job when it ends.',
        parameters: [
          {
            name: 'from',
            in: 'query',
            required: false,
            description: 'First day, YYYY-MM-DD (UTC); default 29 days before `to`.',
            schema: { type: 'string', format: 'date' },
          },
          {
            name: 'to',
            in: 'query',
            required: false,
            description: 'Last day, inclusive; default today (UTC). At most 366 days in all.',
            schema: { type: 'string', format: 'date' },
          },
          {
            name: 'key_id',
            in: 'query',
            required: false,
            description: "Only this API key (of the caller's tenant).",
            schema: { type: 'string' },
          },
        ],
        responses: {
          '200': { description: 'The usage.', content: jsonContent('Usage') },
          '401': responseRef('Unauthorized'),
          '404': errorResponse(404, "`key_id` is not a key of the caller's tenant."),
          '422': responseRef('ValidationFailed'),
          '429': responseRef('RateLimited'),
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        tags: ['operations'],
        summary: 'Prometheus metrics of the whole Kiln',
        description:
          'Jobs by queue and state (`kiln_jobs{queue,state}`) and by family, lane and state (`kiln_queue_jobs`, ' +
          'prioritized and delayed included), live and busy workers, job and denoising-step durations by model and ' +
          'resolution class (histograms), images generated, worker busy time, webhook deliveries by outcome, and the ' +
          'backlog as estimated worker-seconds (`kiln_backlog_worker_seconds{family,lane}`, the autoscaling signal). ' +
          'Fleet-wide: workers add to Redis, any API process answers.',
        security: [],
        responses: {
          '200': {
            description: 'Prometheus text exposition format 0.0.4.',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
        },
      },
    },
    '/healthz': {
      get: {
        operationId: 'health',
        tags: ['operations'],
        summary: 'Liveness: the process is up',
        security: [],
        responses: { '200': { description: 'Up.', content: jsonContent('Health') } },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readiness',
        tags: ['operations'],
        summary: 'Readiness: Redis reachable and a worker seen recently',
        security: [],
        responses: {
          '200': { description: 'Ready.', content: jsonContent('Readiness') },
          '503': { description: 'Not ready; `checks` says why.', content: jsonContent('Readiness') },
        },
      },
    },
    ...batchPaths(),
    ...assetPaths(),
    ...fleetPaths(),
  };

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: 'Kiln',
      version: opts.version ?? '0.1.0',
      description:
        "Self-hosted, OctoAI-compatible Stable Diffusion service. Validation errors answer 422 in FastAPI's " +
        '`detail` shape plus `error.code`; every other error is `{"error":{"code","message"}}` (see `ErrorCode`).',
    },
    ...(opts.serverUrl !== undefined && { servers: [{ url: opts.serverUrl }] }),
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'generation', description: 'OctoAI-compatible image generation.' },
      { name: 'async', description: 'OctoAI async polling.' },
      { name: 'jobs', description: 'Kiln jobs: progress, results, images, listing and cancellation.' },
      { name: 'usage', description: 'Usage per API key and day.' },
      { name: 'batches', description: 'Bulk generation: JSON or JSONL batches, results, cancellation.' },
      { name: 'webhooks', description: 'Webhook messages and their delivery attempts.' },
      { name: 'assets', description: 'The asset library: LoRAs, textual inversions, VAEs; shared library: assets.' },
      { name: 'operations', description: 'Health and readiness probes.' },
    ],
    paths,
    webhooks: webhookDefinitions(),
    components: {
      schemas,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key from the keys file. In local mode (no keys file) any or no token is accepted.',
        },
      },
      parameters: {
        OctoAiAsync: {
          name: 'X-OctoAI-Async',
          in: 'header',
          required: false,
          description: '`1`: queue the request and answer 201 at once instead of waiting for the images.',
          schema: { type: 'string', enum: ['1'] },
        },
        KilnDedupe: {
          name: 'X-Kiln-Dedupe',
          in: 'header',
          required: false,
          description:
            '`off`: do not attach this synchronous request to the open job of an identical one from the same caller ' +
            '(by default a retried sync request waits for that job instead of rendering again; async requests and ' +
            'requests with an `Idempotency-Key` never attach).',
          schema: { type: 'string', enum: ['off'] },
        },
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'Same key and same body within 24 h → the same job; same key, other body → 409 `conflict`.',
          schema: { type: 'string', minLength: 1, maxLength: 256 },
        },
      },
      responses: {
        ValidationFailed: {
          description:
            `The body failed validation. Code: ${codesFor(422)} (\`input_rejected\` when a synchronous job fails on ` +
            "its input). Every 422 carries FastAPI's `detail` list.",
          content: {
            'application/json': { schema: { anyOf: [ref('HTTPValidationError'), ref('ErrorBody')] } },
          },
        },
        BadImage: errorResponse(400, '`init_image` or `mask_image` cannot be decoded.'),
        Unauthorized: errorResponse(401, 'Missing or unknown bearer token.'),
        NotFound: errorResponse(404, 'No such resource for this caller.'),
        Conflict: errorResponse(409, '`Idempotency-Key` reused with another body, or the job was canceled.'),
        PayloadTooLarge: errorResponse(413, 'The body is over the size limit.'),
        RateLimited: errorResponse(429, "Over the key's rate limit.", retryAfterHeader),
        InternalError: errorResponse(500, 'Kiln failed after retrying; `error.job_id` names the job.'),
        Unavailable: errorResponse(503, 'Queue full, shutting down or model not loaded.', retryAfterHeader),
        Timeout: errorResponse(504, 'The synchronous wait timed out; the job goes on, `error.job_id` names it.'),
      },
    },
  };
}
