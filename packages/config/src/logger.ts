import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Header values that carry credentials. The API logs only an allowlist of request headers
 * (apps/api/src/request-log.ts); this list is the second line, for any log that includes headers.
 */
const SECRET_HEADERS = [
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'cookie',
  'set-cookie',
];

/**
 * One structured logger per process. Credential headers and webhook secrets are redacted
 * wherever they appear, so secrets never reach the logs.
 */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        ...SECRET_HEADERS.flatMap((h) => [`req.headers["${h}"]`, `res.headers["${h}"]`, `headers["${h}"]`]),
        '*.webhook_secret',
        '*.token',
        'secret',
      ],
      censor: '[redacted]',
    },
  });
}
