import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { loggableHeaders, loggableUrl, requestIdOf, useRequestLog } from './request-log.js';

describe('the access log', () => {
  it('keeps the values of known query parameters and replaces every other one', () => {
    expect(loggableUrl('/v1/jobs?limit=5&status=failed')).toBe('/v1/jobs?limit=5&status=failed');
    expect(loggableUrl('/v1/jobs?limit=5&api_key=kiln_secret&token=t')).toBe(
      '/v1/jobs?limit=5&api_key=[redacted]&token=[redacted]',
    );
    expect(loggableUrl('/v1/batches?webhook_url=https%3A%2F%2Fu%3Ap%40host')).toBe(
      '/v1/batches?webhook_url=[redacted]',
    );
    expect(loggableUrl('/v1/jobs?%ff=x&limit')).toBe('/v1/jobs?%ff=[redacted]&limit');
    expect(loggableUrl('/healthz')).toBe('/healthz');
  });

  it('logs only headers that carry no credentials', () => {
    const logged = loggableHeaders({
      'content-type': 'application/json',
      authorization: 'Bearer kiln_secret',
      'x-api-key': 'kiln_secret',
      cookie: 'sid=secret',
      'x-custom-token': 'secret',
    });
    expect(logged).toEqual({ 'content-type': 'application/json' });
  });
});

describe('requestLog', () => {
  /** The lines a request writes, through a real HTTP server. */
  async function linesOf(call: (url: string) => Promise<unknown>, route: express.RequestHandler) {
    // A real pino logger, as createLogger builds it, writing its JSON lines into `lines`.
    const lines: { level: string; line: Record<string, unknown>; msg: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        const { level, msg, ...line } = JSON.parse(chunk.toString()) as Record<string, unknown>;
        lines.push({ level: pino.levels.labels[level as number], line, msg: msg as string });
        done();
      },
    });
    const logger = pino({ redact: ['req.headers.authorization'] }, sink);
    const app = express();
    useRequestLog(app, logger);
    app.use((_req, res, next) => {
      res.locals.caller = { tenant: 'acme', keyId: 'k1' };
      next();
    });
    app.all('/{*any}', route);
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      await call(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      server.close();
    }
    return lines;
  }

  it('writes one line per request with its id, status, caller and the job its answer names, no credentials', async () => {
    const lines = await linesOf(
      (url) =>
        fetch(`${url}/generate/sd?token=secret`, {
          method: 'POST',
          headers: { authorization: 'Bearer kiln_secret', 'x-request-id': 'req-1' },
        }),
      (_req, res) => void res.status(201).json({ response_id: 'job-1' }),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      msg: 'request completed',
      line: {
        req: { id: 'req-1', method: 'POST', url: '/generate/sd?token=[redacted]' },
        res: { statusCode: 201 },
        tenant: 'acme',
        keyId: 'k1',
        jobId: 'job-1',
      },
    });
    expect(JSON.stringify(lines)).not.toContain('kiln_secret');
  });

  it('logs a 500 as an error, a request id it cannot trust replaced, and nothing for health checks', async () => {
    const lines = await linesOf(
      async (url) => {
        await fetch(`${url}/v1/jobs`, { headers: { 'x-request-id': 'bad id with spaces' } });
        await fetch(`${url}/healthz`);
      },
      (_req, res) => void res.status(500).json({ error: { code: 'internal_error' } }),
    );
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['error', 'request errored']]);
    expect((lines[0].line.req as { id: string }).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives the request the id its line carries, for error bodies to echo', async () => {
    let echoed: unknown;
    const lines = await linesOf(
      async (url) => {
        echoed = await (await fetch(`${url}/v1/jobs`, { headers: { 'x-request-id': 'trace-7' } })).json();
      },
      (_req, res) => void res.status(404).json({ error: { request_id: requestIdOf(res) } }),
    );
    expect(echoed).toEqual({ error: { request_id: 'trace-7' } });
    expect((lines[0].line.req as { id: string }).id).toBe('trace-7');
  });

  it('logs a request whose client went away before the answer as aborted', async () => {
    const lines = await linesOf(
      async (url) => {
        const controller = new AbortController();
        const pending = fetch(`${url}/slow`, { signal: controller.signal }).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
        controller.abort();
        await pending;
        await new Promise((r) => setTimeout(r, 200));
      },
      (_req, res) => void setTimeout(() => res.end(), 150),
    );
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['warn', 'request aborted']]);
  });
});
