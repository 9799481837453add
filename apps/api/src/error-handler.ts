import { bodyValidationError, errorBody, isKilnError } from '@kiln/contracts';
import type { Logger } from '@kiln/config';
import type { NextFunction, Request, Response } from 'express';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

/**
 * The one place errors become responses: KilnError → its status and code; body-parser's errors →
 * 413 / 422 (FastAPI shape) / 415; anything else → 500 with a request id, logged once.
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return;
    if (isKilnError(err)) {
      if (err.retryAfterSeconds !== undefined) res.set('Retry-After', String(err.retryAfterSeconds));
      res.status(err.status).json(err.toBody());
      return;
    }
    const parserError = err as BodyParserError;
    if (parserError.type === 'entity.too.large') {
      res.status(413).json(errorBody('payload_too_large', 'the request body is over the size limit'));
      return;
    }
    if (parserError.type === 'entity.parse.failed') {
      res.status(422).json(bodyValidationError([], `the body is not valid JSON: ${parserError.message}`, 'json_invalid'));
      return;
    }
    if (parserError.type === 'encoding.unsupported' || parserError.type === 'charset.unsupported') {
      res.status(415).json(errorBody('unsupported_media_type', parserError.message));
      return;
    }
    const requestId = String(req.id ?? '');
    logger.error({ err, requestId, path: req.path }, 'unhandled error');
    res.status(500).json(errorBody('internal_error', 'internal error', { request_id: requestId }));
  };
}
