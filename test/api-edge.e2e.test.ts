/**
 * The API's edge under hostile input (issue 10, items 5, 6, 9 and 10), over real HTTP against a
 * real `kiln api` process with API keys and a real Redis. Each test failed on the code before the
 * fix: ids that answered 500, bodies held open, bodies parsed before authentication, secrets in
 * the log, unthrottled failed authentication, no nosniff.
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startApiProcess, type ApiProcess } from './harness.js';
import { keysFileWith, newKey, type TestKey } from './tenancy-helpers.js';

let api: ApiProcess;
let key: TestKey;
/** Each test speaks from an address of its own (the API trusts X-Forwarded-For from loopback). */
let nextAddress = 1;
const address = () => `10.0.${Math.floor(nextAddress / 250)}.${(nextAddress++ % 250) + 1}`;

const BODY_TIMEOUT_MS = 1500;
const HEADERS_TIMEOUT_MS = 1500;
const PER_CLIENT = 8;
const ALL_CLIENTS = 32;
const AUTH_FAILURES = 10;

beforeAll(async () => {
  key = newKey('edge', 'edge-tenant');
  api = await startApiProcess({
    KILN_KEYS_FILE: await keysFileWith([key]),
    KILN_HOST: '127.0.0.1',
    KILN_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
    KILN_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    KILN_MAX_UPLOADS_PER_CLIENT: String(PER_CLIENT),
    KILN_MAX_UPLOADS: String(ALL_CLIENTS),
    KILN_AUTH_FAILURES_PER_MINUTE: String(AUTH_FAILURES),
    KILN_BATCH_MAX_BODY_BYTES: String(4 * 1024 * 1024),
  });
});
afterAll(() => api?.stop());

function call(method: string, pathname: string, init: { headers?: Record<string, string>; body?: BodyInit } = {}) {
  return fetch(`${api.url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${key.token}`, 'x-forwarded-for': address(), ...init.headers },
    body: init.body,
  });
}

const head = (lines: string[]) => lines.join('\r\n');

describe('ids (item 5): malformed or unknown ids are 404, never 500, on every route with an id', () => {
  // Names of BullMQ's own keys under the queue: a job id equal to one once read that key.
  const queueKeys = [
    'events',
    'completed',
    'id',
    'stalled-check',
    'wait',
    'meta',
    'active',
    'failed',
    'prioritized',
    'marker',
    'pc',
    'de',
  ];
  const templates = [
    ['GET', '/v1/jobs/:id'],
    ['GET', '/v1/jobs/:id/webhooks'],
    ['GET', '/v1/jobs/:id/images/0'],
    ['POST', '/v1/jobs/:id/cancel'],
    ['GET', '/v1/requests/:id'],
    ['GET', '/v1/responses/:id'],
    ['GET', '/v1/batches/:id'],
    ['GET', '/v1/batches/:id/results'],
    ['GET', '/v1/batches/:id/webhooks'],
    ['POST', '/v1/batches/:id/cancel'],
  ] as const;

  it('answers 404 for queue key names, percent-escape garbage and unknown UUIDs', async () => {
    const ids = [
      ...queueKeys,
      '%ff',
      '%E0%A4%A',
      '%',
      '%00',
      '..',
      '%2e%2e',
      'a'.repeat(3000),
      randomUUID(),
      randomUUID().toUpperCase(),
    ];
    const seen: string[] = [];
    for (const [method, template] of templates) {
      for (const id of ids) {
        const res = await call(method, template.replace(':id', id));
        const body = (await res.json()) as any;
        seen.push(`${res.status} ${method} ${template} ${id.slice(0, 20)}`);
        expect(res.status, `${method} ${template} with ${id.slice(0, 40)}`).toBe(404);
        expect(body.error.code).toBe('not_found');
      }
    }
    expect(seen).toHaveLength(templates.length * ids.length);
  });

  it('answers 4xx for malformed percent-escapes anywhere in a path', async () => {
    for (const pathname of [
      '/generate/%ff',
      '/v1/%ff',
      `/v1/jobs/${randomUUID()}/images/%ff`,
      `/v1/batches/${randomUUID()}/%ff`,
      '/v1/usage/%c0%af',
    ]) {
      const res = await call('GET', pathname);
      expect(res.status, pathname).toBe(404);
    }
  });
});

describe('bodies (item 6)', () => {
  const json = JSON.stringify({ prompt: 'a cat', steps: 1 });

  it('answers 4xx for bodies whose Content-Encoding does not decompress, on every POST route', async () => {
    const broken: Array<[string, Buffer]> = [
      ['gzip', Buffer.from('this is not gzip at all')],
      ['deflate', Buffer.from('nor is this deflate')],
      ['br', Buffer.from('and this is no brotli')],
      ['gzip', gzipSync(json).subarray(0, 12)],
      ['zstd', Buffer.from(json)],
    ];
    for (const pathname of ['/generate/sd', '/v1/batches', `/v1/jobs/${randomUUID()}/cancel`]) {
      for (const [encoding, bytes] of broken) {
        const res = await call('POST', pathname, {
          headers: { 'content-type': 'application/json', 'content-encoding': encoding },
          body: bytes,
        });
        expect(res.status, `${pathname} ${encoding}`).toBeGreaterThanOrEqual(400);
        expect(res.status, `${pathname} ${encoding}`).toBeLessThan(500);
      }
    }
  });

  it('refuses a declared Content-Length over the limit at once (413) and closes, without waiting for the bytes', async () => {
    for (const pathname of ['/generate/sd', '/v1/batches']) {
      const reply = await rawRequest(
        api.url,
        head([
          `POST ${pathname} HTTP/1.1`,
          'Host: x',
          `Authorization: Bearer ${key.token}`,
          'Content-Type: application/json',
          'Content-Length: 1073741824',
        ]),
        { body: '{"prompt":', waitMs: 5000 },
      );
      expect(reply.status, pathname).toBe(413);
      expect(reply.answeredMs!).toBeLessThan(2000);
      expect(reply.closedMs, 'the connection is closed after the 413').toBeLessThan(4000);
    }
  });

  it('authenticates before reading the body: an unknown caller declaring 30 MB gets 401 before sending any of it', async () => {
    const reply = await rawRequest(
      api.url,
      head([
        'POST /generate/sd HTTP/1.1',
        'Host: x',
        'Authorization: Bearer not-a-key',
        'Content-Type: application/json',
        `Content-Length: ${30 * 1024 * 1024}`,
      ]),
      { waitMs: 5000, untilResponse: true },
    );
    expect(reply.status).toBe(401);
    expect(reply.answeredMs!).toBeLessThan(2000);
    expect(reply.headers.connection).toBe('close');
  });

  it('cuts a body trickled at one byte at a time: 408 at the body deadline, then closed', async () => {
    const reply = await rawRequest(
      api.url,
      head([
        'POST /generate/sd HTTP/1.1',
        'Host: x',
        `Authorization: Bearer ${key.token}`,
        'Content-Type: application/json',
        'Content-Length: 1000',
      ]),
      { body: '{', trickle: { intervalMs: 200 }, waitMs: 15_000 },
    );
    expect(reply.status).toBe(408);
    expect(reply.answeredMs!).toBeGreaterThan(BODY_TIMEOUT_MS - 100);
    expect(reply.answeredMs!).toBeLessThan(BODY_TIMEOUT_MS + 1500);
    expect(reply.closedMs).toBeLessThan(BODY_TIMEOUT_MS + 4000);
  });

  it('closes a connection whose headers never end, at the header deadline', async () => {
    const reply = await rawRequest(api.url, 'GET /v1/jobs HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', {
      headAsIs: true,
      waitMs: 15_000,
    });
    expect(reply.closedMs).toBeLessThan(HEADERS_TIMEOUT_MS + 4000);
  });

  it('holds at most the configured number of slow bodies: of 300 slow connections the rest are refused at once', async () => {
    // 200 from two busy addresses (each may hold PER_CLIENT), 100 from as many others (all together ALL_CLIENTS).
    const busy = [address(), address()];
    const from = Array.from({ length: 300 }, (_, i) => (i < 200 ? busy[i % 2]! : address()));
    const started = performance.now();
    const replies = await Promise.all(
      from.map((client) =>
        rawRequest(
          api.url,
          head([
            'POST /generate/sd HTTP/1.1',
            'Host: x',
            `Authorization: Bearer ${key.token}`,
            `X-Forwarded-For: ${client}`,
            'Content-Type: application/json',
            'Content-Length: 100',
          ]),
          { body: '{', trickle: { intervalMs: 500 }, waitMs: 20_000 },
        ),
      ),
    );
    const held = replies.filter((r) => r.status === 408);
    const perClientRefusals = replies.filter((r) => r.status === 429);
    const refusals = replies.filter((r) => r.status === 429 || r.status === 503);
    expect(held.length + refusals.length).toBe(300);
    expect(held.length).toBeLessThanOrEqual(ALL_CLIENTS);
    expect(replies.filter((r, i) => r.status === 408 && i < 200).length).toBeLessThanOrEqual(2 * PER_CLIENT);
    expect(perClientRefusals.length).toBeGreaterThanOrEqual(200 - 2 * PER_CLIENT);
    expect(
      refusals.length - perClientRefusals.length,
      'some refused because all clients together hold the most',
    ).toBeGreaterThan(0);
    for (const r of refusals) expect(r.answeredMs!).toBeLessThan(3000);
    for (const r of replies) expect(r.closedMs, 'every connection is closed by the server').toBeDefined();
    expect(performance.now() - started).toBeLessThan(BODY_TIMEOUT_MS + 6000);
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });
});

describe('secrets (item 9)', () => {
  it('accepts the key only from Authorization: Bearer', async () => {
    const viaHeader = await call('GET', '/v1/jobs', { headers: { authorization: '', 'x-api-key': key.token } });
    expect(viaHeader.status).toBe(401);
    expect(((await viaHeader.json()) as any).error.message).toMatch(/Authorization: Bearer/);
    const viaQuery = await call('GET', `/v1/jobs?api_key=${key.token}`, { headers: { authorization: '' } });
    expect(viaQuery.status).toBe(401);
    expect((await call('GET', '/v1/jobs')).status).toBe(200);
  });

  it('logs no header value or query value that can carry a secret', async () => {
    const secrets = {
      apiKey: `kiln_${randomUUID()}`,
      cookie: `session-${randomUUID()}`,
      query: `q-${randomUUID()}`,
      proxy: `p-${randomUUID()}`,
    };
    const requestId = `log-probe-${randomUUID()}`;
    const res = await call('GET', `/v1/jobs?limit=5&api_key=${secrets.query}`, {
      headers: {
        'x-request-id': requestId,
        'x-api-key': secrets.apiKey,
        cookie: `sid=${secrets.cookie}`,
        'proxy-authorization': `Basic ${secrets.proxy}`,
      },
    });
    expect(res.status).toBe(200);
    const logged = () => api.logs.find((line) => line.includes(requestId));
    for (let i = 0; i < 50 && !logged(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(logged(), 'the request was logged').toBeDefined();
    const log = api.logs.join('\n');
    for (const secret of [...Object.values(secrets), key.token]) expect(log).not.toContain(secret);
  });
});

describe('smaller points (item 10)', () => {
  it('throttles failed authentication per client address', async () => {
    const attacker = address();
    const statuses: number[] = [];
    for (let i = 0; i < 300; i++) {
      const res = await call('GET', '/v1/jobs', {
        headers: { authorization: `Bearer guess-${i}`, 'x-forwarded-for': attacker },
      });
      statuses.push(res.status);
      if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      await res.arrayBuffer();
    }
    expect(statuses.slice(0, AUTH_FAILURES).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(AUTH_FAILURES).every((s) => s === 429)).toBe(true);
    // Even the right key waits while its address is throttled; another address is not affected.
    expect((await call('GET', '/v1/jobs', { headers: { 'x-forwarded-for': attacker } })).status).toBe(429);
    expect((await call('GET', '/v1/jobs')).status).toBe(200);
  });

  it('sends nosniff and Cache-Control on API answers, errors included', async () => {
    for (const res of [
      await call('GET', '/v1/jobs'),
      await call('GET', `/v1/jobs/${randomUUID()}`),
      await call('GET', '/nothing'),
    ]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });
});
