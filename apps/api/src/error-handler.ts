import { bodyValidationError, errorBody, isKilnError, type ErrorCode } from '@kiln/contracts';
import type { Logger } from '@kiln/config';
import type { NextFunction, Request, Response } from 'express';
import { closeAfterResponse } from './body-limits.js';
import { isRedisUnavailableError, redisUnavailable, type RedisGate } from './redis-gate.js';
import { requestIdOf } from './request-log.js';

/** The errors of body-parser, the router and Node's streams (http-errors style). */
interface HttpError extends Error {
  type?: string;
  status?: number;
  code?: string;
}

/** Codes for the 4xx statuses that Express' own parts raise. */
const CODE_OF_STATUS: Readonly<Record<number, ErrorCode>> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  408: 'timeout',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

const isDecompressionError = (err: HttpError) =>
  typeof err.code === 'string' &&
  (err.code.startsWith('Z_') || err.code.startsWith('ERR__') || err.code.includes('BROTLI'));

/**
 * The one place errors become responses: KilnError → its status and code; Redis gone → 503 with
 * Retry-After; body-parser's and the router's errors → 4xx with a code (a body that does not
 * decompress is 422, a path with a malformed percent-escape 404); anything else → 500 with a
 * request id, logged once. An answer sent before the request's body was read closes the
 * connection rather than wait for the rest of the body.
 */
export function errorHandler(logger: Logger, gate?: RedisGate) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      if (!req.complete) req.socket?.destroy();
      return;
    }
    if (!req.complete) closeAfterResponse(req, res);
    const send = (status: number, body: unknown) => res.status(status).json(body);
    if (isKilnError(err)) {
      if (err.retryAfterSeconds !== undefined) res.set('Retry-After', String(err.retryAfterSeconds));
      send(err.status, err.toBody());
      return;
    }
    const error = (err ?? {}) as HttpError;
    const clientStatus =
      typeof error.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : undefined;
    const redisDown = isRedisUnavailableError(err);
    if (redisDown) gate?.failed(err);
    if (redisDown || (clientStatus === undefined && gate && !gate.open)) {
      const unavailable = redisUnavailable();
      res.set('Retry-After', String(unavailable.retryAfterSeconds));
      send(unavailable.status, unavailable.toBody());
      return;
    }
    if (error.type === 'entity.too.large') {
      send(413, errorBody('payload_too_large', 'the request body is over the size limit'));
      return;
    }
    if (error.type === 'entity.parse.failed') {
      send(422, bodyValidationError([], `the body is not valid JSON: ${error.message}`, 'json_invalid'));
      return;
    }
    if (error.type === 'encoding.unsupported' || error.type === 'charset.unsupported') {
      send(415, errorBody('unsupported_media_type', error.message));
      return;
    }
    if (isDecompressionError(error)) {
      const encoding = String(req.headers['content-encoding'] ?? '');
      send(
        422,
        bodyValidationError([], `the ${encoding} body cannot be decompressed: ${error.message}`, 'value_error'),
      );
      return;
    }
    if (err instanceof URIError || (clientStatus && error.message?.startsWith('Failed to decode param'))) {
      send(404, errorBody('not_found', 'the path is not valid percent-encoding'));
      return;
    }
    if (clientStatus !== undefined) {
      const code = CODE_OF_STATUS[clientStatus] ?? 'invalid_request';
      send(clientStatus, errorBody(code, error.message || 'bad request'));
      return;
    }
    const requestId = requestIdOf(res);
    logger.error({ err, requestId, path: req.path }, 'unhandled error');
    send(500, errorBody('internal_error', 'internal error', { request_id: requestId }));
  };
}
