import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookUrlRefused } from './address-policy.js';
import { postWebhook, refuseNonPublicPeer } from './http-delivery.js';

/** A real receiver on loopback that counts connections and records the bodies it is sent. */
function receiver(server: http.Server | https.Server) {
  const seen = { connections: 0, bodies: [] as string[] };
  server.on('connection', () => seen.connections++);
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      seen.bodies.push(body);
      res.end('ok');
    });
  });
  return seen;
}

const listen = (server: net.Server) =>
  new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );

const options = (allowPrivate: boolean) => ({ timeoutMs: 5000, allowPrivate, headers: { 'webhook-id': 'msg_1' } });

describe('postWebhook against a loopback receiver', () => {
  const server = http.createServer();
  const seen = receiver(server);
  let port = 0;
  beforeAll(async () => {
    port = await listen(server);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    ['an address literal', () => `http://127.0.0.1:${port}/hook`],
    ['a short IPv4 spelling', () => `http://127.1:${port}/hook`],
    ['an IPv4-mapped IPv6 literal', () => `http://[::ffff:127.0.0.1]:${port}/hook`],
    ['localhost, through real DNS', () => `http://localhost:${port}/hook`],
  ])('refuses %s without opening a connection', async (_what, url) => {
    const before = seen.connections;
    const result = await postWebhook(url(), '{"a":1}', options(false));
    expect(result).toMatchObject({ ok: false, statusCode: null, refused: true });
    expect(result.error).toMatch(/^refused: /);
    expect(seen.connections).toBe(before);
  });

  it('delivers to the same receiver when the operator allows private targets', async () => {
    const result = await postWebhook(`http://localhost:${port}/hook`, '{"a":2}', options(true));
    expect(result).toMatchObject({ ok: true, statusCode: 200, error: null, refused: false });
    expect(seen.bodies.at(-1)).toBe('{"a":2}');
  });
});

describe('refuseNonPublicPeer', () => {
  it('closes a socket connected to loopback before the bytes already queued on it are sent', async () => {
    const server = net.createServer();
    const seen = {
      bytes: 0,
      closed: new Promise<void>((resolve) => server.on('connection', (s) => s.on('close', () => resolve()))),
    };
    server.on('connection', (s) => s.on('data', (chunk: Buffer) => (seen.bytes += chunk.length)));
    const port = await listen(server);
    const socket = net.connect({ host: '127.0.0.1', port });
    refuseNonPublicPeer(socket);
    socket.write('POST /hook HTTP/1.1\r\n\r\n'); // queued while connecting, as http.request does
    const error = await new Promise<Error>((resolve) => socket.on('error', resolve));
    await seen.closed;
    server.close();
    expect(error).toBeInstanceOf(WebhookUrlRefused);
    expect(error.message).toMatch(/connected to 127\.0\.0\.1, which is not a public address/);
    expect(seen.bytes).toBe(0);
  });
});

describe('postWebhook over TLS', () => {
  // A self-signed certificate for localhost, made for this run.
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  const servernames: string[] = [];
  const server = https.createServer({
    key: readFileSync(path.join(dir, 'key.pem')),
    cert: readFileSync(path.join(dir, 'cert.pem')),
    SNICallback: (name, callback) => {
      servernames.push(name);
      callback(null); // the server's own certificate
    },
  });
  const seen = receiver(server);
  let port = 0;
  beforeAll(async () => {
    port = await listen(server);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends the host name (SNI) and verifies the certificate: a self-signed one fails the attempt', async () => {
    const result = await postWebhook(`https://localhost:${port}/hook`, '{"a":3}', options(true));
    expect(result).toMatchObject({ ok: false, statusCode: null, refused: false });
    expect(result.error).toMatch(/self[- ]signed/i);
    expect(servernames).toEqual(['localhost']);
    expect(seen.bodies).toEqual([]);
  });

  it('refuses a loopback TLS receiver without connecting', async () => {
    const before = seen.connections;
    const result = await postWebhook(`https://localhost:${port}/hook`, '{"a":4}', options(false));
    expect(result).toMatchObject({ ok: false, refused: true });
    expect(seen.connections).toBe(before);
  });
});
