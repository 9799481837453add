import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One structured logger per process. Authorization headers and webhook secrets are redacted
 * wherever they appear, so secrets never reach the logs.
 */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.webhook_secret', '*.token', 'secret'],
      censor: '[redacted]',
    },
  });
}
