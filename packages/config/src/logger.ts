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

/** Lines wait for this many bytes before they are written, or for {@link LOG_FLUSH_INTERVAL_MS}. */
const WRITE_BLOCK_BYTES = 4096;
/** The longest a line waits in a quiet process before it is written. */
export const LOG_FLUSH_INTERVAL_MS = 100;

let stdout: ReturnType<typeof pino.destination> | undefined;

/**
 * Standard output, written in blocks: under load a line per request was a write system call per
 * request, 8% of the API's CPU per async submission (docs/benchmarks.md, item 4). A quiet process's
 * lines still go out within {@link LOG_FLUSH_INTERVAL_MS}; pino writes what is left when the process
 * exits (a SIGKILL loses at most that last block). One for the process, shared by its loggers, so
 * their lines keep their order.
 */
function bufferedStdout(): ReturnType<typeof pino.destination> {
  if (!stdout) {
    const destination = pino.destination({ dest: 1, minLength: WRITE_BLOCK_BYTES, sync: false });
    const flush = () => {
      try {
        destination.flush();
      } catch {
        // The stream has ended at exit: nothing is left to write.
      }
    };
    setInterval(flush, LOG_FLUSH_INTERVAL_MS).unref();
    stdout = destination;
  }
  return stdout;
}

/**
 * One structured logger per process. Credential headers and webhook secrets are redacted
 * wherever they appear, so secrets never reach the logs.
 */
export function createLogger(name: string, level = 'info'): Logger {
  return pino(
    {
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
    },
    bufferedStdout(),
  );
}
