import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  ERROR_DESCRIPTIONS,
  ERROR_STATUS,
  errorBody,
  errorBodySchema,
  isErrorCode,
  isKilnError,
  KilnError,
  type ErrorCode,
} from './errors.js';
import { validationErrorBodySchema } from './validation-error.js';

describe('ERROR_STATUS', () => {
  it('has an HTTP error status and a description for every code, and nothing else', () => {
    expect(Object.keys(ERROR_STATUS).sort()).toEqual([...ERROR_CODES].sort());
    expect(Object.keys(ERROR_DESCRIPTIONS).sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      expect(ERROR_STATUS[code]).toBeGreaterThanOrEqual(400);
      expect(ERROR_STATUS[code]).toBeLessThan(600);
    }
  });

  it.each([
    ['invalid_request', 422],
    ['invalid_image', 400],
    ['unauthorized', 401],
    ['forbidden', 403],
    ['not_found', 404],
    ['conflict', 409],
    ['payload_too_large', 413],
    ['rate_limited', 429],
    ['queue_full', 503],
    ['shutting_down', 503],
    ['model_unavailable', 503],
    ['timeout', 504],
    ['input_rejected', 422],
    ['internal_error', 500],
    ['canceled', 409],
  ] as const)('%s → %i (CONTRACT §1)', (code, status) => {
    expect(ERROR_STATUS[code]).toBe(status);
  });

  it('recognises codes', () => {
    expect(isErrorCode('queue_full')).toBe(true);
    expect(isErrorCode('QUEUE_FULL')).toBe(false);
    expect(isErrorCode(503)).toBe(false);
  });
});

describe('errorBody', () => {
  it('builds { error: { code, message, ...extra } }', () => {
    expect(errorBody('timeout', 'still running', { job_id: 'j1' })).toEqual({
      error: { code: 'timeout', message: 'still running', job_id: 'j1' },
    });
    expect(errorBodySchema.safeParse(errorBody('not_found', 'no such job')).success).toBe(true);
  });

  it('does not let extra override code or message', () => {
    expect(errorBody('forbidden', 'no', { code: 'x', message: 'y' }).error).toMatchObject({
      code: 'forbidden',
      message: 'no',
    });
  });

  it('the schema rejects an unknown code', () => {
    expect(errorBodySchema.safeParse({ error: { code: 'oops', message: 'x' } }).success).toBe(false);
  });
});

describe('KilnError', () => {
  it('takes its status from the map', () => {
    const err = new KilnError('queue_full', 'queue is full', { retryAfterSeconds: 30 });
    expect(err).toBeInstanceOf(Error);
    expect(err.status).toBe(503);
    expect(err.retryAfterSeconds).toBe(30);
    expect(err.name).toBe('KilnError');
    expect(isKilnError(err)).toBe(true);
    expect(isKilnError(new Error('x'))).toBe(false);
  });

  it('sends field, job id and details in the body', () => {
    const err = new KilnError('invalid_image', 'init_image is not an image', {
      field: 'init_image',
      details: { bytes: 12 },
      jobId: 'j9',
    });
    expect(err.status).toBe(400);
    expect(err.toBody()).toEqual({
      error: {
        code: 'invalid_image',
        message: 'init_image is not an image',
        field: 'init_image',
        job_id: 'j9',
        details: { bytes: 12 },
      },
    });
    expect(errorBodySchema.safeParse(err.toBody()).success).toBe(true);
  });

  it('answers invalid_request in the 422 FastAPI shape', () => {
    const body = new KilnError('invalid_request', 'init_image is over 20 MB', { field: 'init_image' }).toBody();
    expect(validationErrorBodySchema.safeParse(body).success).toBe(true);
    expect(body).toMatchObject({ detail: [{ loc: ['body', 'init_image'], msg: 'init_image is over 20 MB' }] });
  });

  it('gives every other 422 the detail list too: a job refused for its input, at its field', () => {
    const err = new KilnError('input_rejected', 'no checkpoint named "x" is installed', {
      field: 'checkpoint',
      jobId: 'j1',
    });
    expect(err.status).toBe(422);
    const body = err.toBody();
    expect(body).toEqual({
      error: {
        code: 'input_rejected',
        message: 'no checkpoint named "x" is installed',
        field: 'checkpoint',
        job_id: 'j1',
      },
      detail: [{ loc: ['body', 'checkpoint'], msg: 'no checkpoint named "x" is installed', type: 'value_error' }],
    });
    expect(errorBodySchema.safeParse(body).success).toBe(true);
    // Without a field the whole body is at fault; other statuses carry no detail.
    expect(new KilnError('input_rejected', 'bad').toBody()).toMatchObject({ detail: [{ loc: ['body'] }] });
    expect(new KilnError('internal_error', 'x').toBody()).not.toHaveProperty('detail');
  });

  it('keeps the cause and accepts a status override', () => {
    const cause = new Error('disk');
    const err = new KilnError('internal_error' satisfies ErrorCode, 'failed', { cause, status: 502 });
    expect(err.cause).toBe(cause);
    expect(err.status).toBe(502);
  });
});
