import { z } from 'zod';
import {
  bodyValidationError,
  validationErrorBody,
  validationErrorBodySchema,
  type ValidationErrorBody,
  type ValidationErrorDetail,
} from './validation-error.js';

/**
 * Every machine-readable error code Kiln answers with. The HTTP status of each is in
 * {@link ERROR_STATUS}; what it means is in {@link ERROR_DESCRIPTIONS}.
 */
export const ERROR_CODES = [
  'invalid_request',
  'invalid_image',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'not_ready',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'queue_full',
  'shutting_down',
  'service_unavailable',
  'model_unavailable',
  'timeout',
  'input_rejected',
  'internal_error',
  'canceled',
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The HTTP status of each error code: one map, kept complete by the compiler (the way trpc's
 * `getHTTPStatusCode` does it).
 */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 422,
  invalid_image: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  not_ready: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  queue_full: 503,
  shutting_down: 503,
  service_unavailable: 503,
  model_unavailable: 503,
  timeout: 504,
  input_rejected: 422,
  internal_error: 500,
  canceled: 409,
};

/** What each code means, for docs and the OpenAPI document. */
export const ERROR_DESCRIPTIONS: Readonly<Record<ErrorCode, string>> = {
  invalid_request: 'The body failed validation (422, FastAPI `detail` list included), or is not JSON.',
  invalid_image:
    '`init_image` or `mask_image` is not valid base64 of a PNG, JPEG or WebP image, or is too large (400).',
  unauthorized: 'No bearer token, or an unknown one (401).',
  forbidden: "The key may not do this, e.g. read another tenant's job or asset (403).",
  not_found: 'No such job, response, image, batch or asset for this caller (404).',
  conflict: 'An `Idempotency-Key` reused with a different body, or a state change that cannot happen now (409).',
  not_ready: 'The job has not finished yet: poll `GET /v1/requests/{id}` or `GET /v1/jobs/{id}` (409).',
  payload_too_large: 'The request body is over the configured limit (413).',
  unsupported_media_type: 'The body is not `application/json` (or JSONL where a batch allows it) (415).',
  rate_limited: "The key's request rate is over its limit; retry after `Retry-After` seconds (429).",
  queue_full: 'The queue is at its limit for this key or overall; retry after `Retry-After` seconds (503).',
  shutting_down: 'This Kiln instance is stopping and takes no new work; retry after `Retry-After` seconds (503).',
  service_unavailable:
    'Kiln cannot serve this now: its Redis is unreachable, or too many request bodies are arriving at once; ' +
    'nothing was created. Retry after `Retry-After` seconds (503).',
  model_unavailable: 'The model family or checkpoint asked for is not installed or not loaded (503).',
  timeout:
    'A synchronous request waited longer than the configured limit. The job goes on; the body carries its ' +
    '`job_id` (504).',
  input_rejected:
    'The job failed because of its input: an image that cannot be used, an asset that does not fit the model, a ' +
    "setting the model does not support (422, with FastAPI's `detail` at the field).",
  internal_error: 'Kiln failed; the job was retried before this was reported. The body carries the job id (500).',
  canceled: 'The job was canceled before it finished (409).',
};

/** Whether a string is one of {@link ERROR_CODES}. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** The `{ code, message }` pair carried by error bodies, job records and request status. */
export const errorInfoSchema = z
  .object({
    code: z.enum(ERROR_CODES).describe('Machine-readable error code.'),
    message: z.string().describe('Human-readable explanation, one line.'),
  })
  .meta({ description: 'What went wrong: a stable code and a human-readable message.' });

/** `{ code, message }`. */
export type ErrorInfo = z.output<typeof errorInfoSchema>;

/**
 * The body of every non-validation error: `{ "error": { "code", "message", … } }`.
 * Extra members appear where useful: `job_id` on 500/504 and job failures, `field` when one
 * request field is at fault, `details` for structured context.
 */
export const errorBodySchema = z
  .object({
    error: errorInfoSchema
      .extend({
        job_id: z.string().optional().describe('The job concerned (500, 504, job failures).'),
        field: z.string().optional().describe('The request field at fault, when there is one.'),
        details: z.unknown().optional().describe('Structured context, when there is any.'),
      })
      .loose(),
    detail: validationErrorBodySchema.shape.detail
      .optional()
      .describe(
        'On every 422: FastAPI\'s list, `loc` at the field at fault (`["body", field]`), as OctoAI\'s SDK reads it.',
      ),
  })
  .meta({ description: 'An error that is not a body validation failure.' });

/** `{ error: { code, message, …extra } }`, with FastAPI's `detail` list on a 422. */
export type ErrorBody = {
  error: { code: ErrorCode; message: string } & Record<string, unknown>;
  detail?: ValidationErrorDetail[];
};

/** Builds `{ error: { code, message, ...extra } }`; `extra` cannot override `code` or `message`. */
export function errorBody(code: ErrorCode, message: string, extra?: Readonly<Record<string, unknown>>): ErrorBody {
  return { error: { ...extra, code, message } };
}

/** Options of {@link KilnError}. */
export interface KilnErrorOptions {
  /** Structured context, sent as `error.details`. */
  details?: unknown;
  /** The request field at fault (`"init_image"`), sent as `error.field`. */
  field?: string;
  /** Overrides the status from {@link ERROR_STATUS} (rarely right; prefer a code). */
  status?: number;
  /** Seconds the client should wait before retrying; the API sends it as `Retry-After`. */
  retryAfterSeconds?: number;
  /** The job concerned, sent as `error.job_id`. */
  jobId?: string;
  /** The underlying error, kept for logs only. */
  cause?: unknown;
  /**
   * For `invalid_request`: the FastAPI `detail` list (every problem, each at its `loc`), when
   * there is more to say than one message at one field.
   */
  validation?: readonly ValidationErrorDetail[];
}

/**
 * The one error type Kiln throws on purpose. The API's error middleware turns it into
 * `status` + {@link KilnError.toBody}; anything else becomes a 500 `internal_error`.
 */
export class KilnError extends Error {
  override readonly name = 'KilnError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;
  readonly field?: string;
  readonly retryAfterSeconds?: number;
  readonly jobId?: string;
  readonly validation?: readonly ValidationErrorDetail[];

  constructor(code: ErrorCode, message: string, options: KilnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status ?? ERROR_STATUS[code];
    if (options.details !== undefined) this.details = options.details;
    if (options.field !== undefined) this.field = options.field;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
    if (options.jobId !== undefined) this.jobId = options.jobId;
    if (options.validation !== undefined) this.validation = options.validation;
  }

  /**
   * The response body: `{ error: { code, message, field?, job_id?, details? } }`. Every 422 carries
   * FastAPI's `detail` list too (OctoAI's SDK exposes it on `UnprocessableEntityError`): for
   * `invalid_request` the validation's own, for a job refused for its input (`input_rejected`) one
   * entry at `["body", field]`.
   */
  toBody(): ErrorBody | ValidationErrorBody {
    if (this.code === 'invalid_request') {
      return this.validation ? validationErrorBody(this.validation) : bodyValidationError(this.field, this.message);
    }
    const body: ErrorBody = errorBody(this.code, this.message, {
      ...(this.field !== undefined && { field: this.field }),
      ...(this.jobId !== undefined && { job_id: this.jobId }),
      ...(this.details !== undefined && { details: this.details }),
    });
    if (this.status === 422) body.detail = bodyValidationError(this.field, this.message).detail;
    return body;
  }
}

/** Whether a value is a {@link KilnError} (also across duplicated module copies). */
export function isKilnError(value: unknown): value is KilnError {
  return (
    value instanceof KilnError ||
    (value instanceof Error && value.name === 'KilnError' && isErrorCode((value as KilnError).code))
  );
}
