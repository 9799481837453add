/**
 * The access log. It records an allowlist of request headers (any other header may carry a
 * credential: `Authorization`, `X-API-Key`, cookies, a proxy's token) and the query string with the
 * values of unknown parameters replaced (`?api_key=…`, `?webhook_url=https://user:pass@…`).
 */
import type { Logger } from '@kiln/config';
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import { pinoHttp } from 'pino-http';

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

export function requestLog(logger: Logger) {
  return pinoHttp({
    logger,
    // A client's request id is echoed into logs and error bodies: only a short, plain one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    autoLogging: { ignore: (req) => UNLOGGED_PATHS.has((req.url ?? '').split('?', 1)[0] ?? '') },
    serializers: {
      req: (req: {
        id: unknown;
        method: string;
        url: string;
        remoteAddress?: string;
        headers: IncomingMessage['headers'];
      }) => ({
        id: req.id,
        method: req.method,
        url: loggableUrl(req.url),
        remoteAddress: req.remoteAddress,
        headers: loggableHeaders(req.headers),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}
