/**
 * The access log. It records an allowlist of request headers (any other header may carry a
 * credential: `Authorization`, `X-API-Key`, cookies, a proxy's token) and the query string with the
 * values of unknown parameters replaced (`?api_key=…`, `?webhook_url=https://user:pass@…`). Never a
 * body: prompts and base64 images stay out of the logs. Each line carries the request id, and once
 * known the caller's tenant and key id and the job the request created or read (`jobId`), which
 * the worker's lines for that job carry too.
 */
import type { Logger } from '@kiln/config';
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Express, NextFunction, Request, Response } from 'express';

const LOGGED_HEADERS = [
  'host',
  'user-agent',
  'content-type',
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'accept',
  'x-request-id',
  'x-octoai-async',
  'x-forwarded-for',
];
/** Query parameters of Kiln's routes that carry no secret. */
const LOGGED_QUERY = new Set([
  'limit',
  'cursor',
  'status',
  'batch_id',
  'offset',
  'order',
  'from',
  'to',
  'key_id',
  'webhook_events',
]);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const UNLOGGED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

function decoded(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/** The URL with the value of every query parameter not in {@link LOGGED_QUERY} replaced. */
export function loggableUrl(url: string): string {
  const at = url.indexOf('?');
  if (at < 0) return url;
  const pairs = url
    .slice(at + 1)
    .split('&')
    .map((pair) => {
      const [name = ''] = pair.split('=', 1);
      return LOGGED_QUERY.has(decoded(name)) || !pair.includes('=') ? pair : `${name}=[redacted]`;
    });
  return `${url.slice(0, at)}?${pairs.join('&')}`;
}

export function loggableHeaders(headers: IncomingMessage['headers']): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const name of LOGGED_HEADERS) if (headers[name] !== undefined) kept[name] = headers[name];
  return kept;
}

/** A job id a response body names (`id`, `response_id`, `error.job_id`): the log's link to the worker's lines. */
function jobIdOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as { id?: unknown; response_id?: unknown; object?: unknown; error?: { job_id?: unknown } };
  const id = b.response_id ?? b.error?.job_id ?? (b.object === undefined ? b.id : undefined);
  return typeof id === 'string' && REQUEST_ID.test(id) ? id : undefined;
}

/** Who called and which job it was about, known once the request has been handled. */
export function requestContext(res: {
  locals: { caller?: { tenant: string; keyId: string }; jobId?: string };
}): Record<string, string> {
  const { caller, jobId } = res.locals;
  const context: Record<string, string> = {};
  if (caller) Object.assign(context, { tenant: caller.tenant, keyId: caller.keyId });
  if (jobId) context.jobId = jobId;
  return context;
}

/** The id the access log gave a request (a trusted `X-Request-Id`, or a fresh UUID): error bodies echo it. */
export function requestIdOf(res: Response): string {
  return (res.locals.requestId as string | undefined) ?? '';
}

/**
 * One access-log line per request of `app`, written when the response has been sent (or the client
 * went away first): `{ req, res, responseTime, tenant?, keyId?, jobId? }`, the shape pino-http
 * writes. Hand-written over the process logger because pino-http's per-request child logger and
 * serializer wrapping were a quarter of the API's CPU per async submission (docs/benchmarks.md,
 * item 4); this line costs one `logger.info`.
 */
export function useRequestLog(app: Express, logger: Logger): void {
  // Note the job a JSON answer names (the body itself is never logged). Set once on the app's
  // response prototype rather than bound onto every response: the submit path is CPU-bound, and
  // each per-request closure counts (docs/benchmarks.md, item 4).
  const json = app.response.json;
  app.response.json = function noteJobThenJson(this: Response, body: unknown) {
    const jobId = jobIdOf(body);
    if (jobId && this.locals.jobId === undefined) this.locals.jobId = jobId;
    return json.call(this, body);
  };
  app.use(requestLog(logger));
}

function requestLog(logger: Logger) {
  // Every field of the line is built here from allowlists (headers, query parameters), so the
  // process logger's redaction pass, which is for lines that carry whatever they were given, has
  // nothing to find in it; it cost 2.5× the rest of the line (docs/benchmarks.md, item 4).
  const access = logger.child({}, { redact: [] });
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    const given = req.headers['x-request-id'];
    // A client's request id is echoed into logs and error bodies: only a short, plain one.
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    // Read now: by the time the response has finished the socket may be detached from the request.
    const remoteAddress = req.socket?.remoteAddress;
    const path = (req.url ?? '').split('?', 1)[0] ?? '';
    if (!UNLOGGED_PATHS.has(path)) {
      const write = () => {
        res.off('finish', write).off('close', write);
        const line = {
          req: {
            id,
            method: req.method,
            url: loggableUrl(req.originalUrl ?? req.url),
            remoteAddress,
            headers: loggableHeaders(req.headers),
          },
          res: { statusCode: res.statusCode },
          responseTime: Math.round(performance.now() - started),
          ...requestContext(res),
        };
        if (!res.writableFinished) access.warn(line, 'request aborted');
        else if (res.statusCode >= 500) access.error(line, 'request errored');
        else access.info(line, 'request completed');
      };
      res.on('finish', write).on('close', write);
    }
    next();
  };
}
