/**
 * One delivery attempt: POST the signed body, never follow a redirect (a 3xx is an answer, not a
 * new target: following it would bypass the address check), give up after a time limit. Each
 * attempt opens its own connection and checks addresses twice: the socket's DNS lookup refuses
 * private answers (so no packet goes to them), and the address the socket actually connected to
 * is checked again before a byte is sent, TLS handshake included.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net, { isIP, type LookupFunction } from 'node:net';
import tls from 'node:tls';
import { WebhookUrlRefused, isPrivateAddress, urlHost } from './address-policy.js';

export interface AttemptResult {
  /** True for a 2xx answer. */
  ok: boolean;
  /** The HTTP status, when an answer came. */
  statusCode: number | null;
  /** What went wrong without an answer: timeout, connection refused, refused address, … */
  error: string | null;
  /** True when the target was refused by the address policy (not worth retrying). */
  refused: boolean;
  durationMs: number;
}

export interface PostOptions {
  timeoutMs: number;
  allowPrivate: boolean;
  headers: Record<string, string>;
}

/** A socket lookup that refuses private addresses (all of them are checked, the first public one is used). */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err);
      const blocked = allowPrivate ? undefined : addresses.find((a) => isPrivateAddress(a.address));
      if (blocked) {
        return callback(
          new WebhookUrlRefused(`${hostname} resolves to ${blocked.address}, a private or loopback address`),
        );
      }
      if (addresses.length === 0)
        return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }));
      if (options?.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  }) as LookupFunction;
}

/**
 * Destroys `socket` as soon as it connects when the address it connected to is not public.
 * Installed before anything writes to the socket: Node queues early writes as `connect` listeners
 * of their own, so this listener runs first and nothing is sent to a refused address.
 */
export function refuseNonPublicPeer(socket: net.Socket): void {
  socket.once('connect', () => {
    const peer = socket.remoteAddress;
    if (peer === undefined || isPrivateAddress(peer)) {
      socket.destroy(
        new WebhookUrlRefused(`connected to ${peer ?? 'an unknown address'}, which is not a public address`),
      );
    }
  });
}

/** The connection of one attempt (plain or TLS), guarded at lookup and at connect. */
function guardedConnection(url: URL, allowPrivate: boolean): net.Socket {
  const host = urlHost(url);
  const tlsTarget = url.protocol === 'https:';
  const port = Number(url.port) || (tlsTarget ? 443 : 80);
  const socket = net.connect({ host, port, lookup: guardedLookup(allowPrivate) });
  if (!allowPrivate) refuseNonPublicPeer(socket);
  if (!tlsTarget) return socket;
  // what the https agent would do: verify the certificate against the host name, send SNI
  return tls.connect({ socket, host, servername: isIP(host) ? undefined : host });
}

const MAX_RESPONSE_BYTES = 64 * 1024;

/** Sends one POST; resolves with what happened (never rejects). */
export function postWebhook(rawUrl: string, body: string, options: PostOptions): Promise<AttemptResult> {
  const started = performance.now();
  const done = (partial: Omit<AttemptResult, 'durationMs'>): AttemptResult => ({
    ...partial,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
  });
  return new Promise<AttemptResult>((resolve) => {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      resolve(done({ ok: false, statusCode: null, error: 'invalid URL', refused: true }));
      return;
    }
    const host = urlHost(url);
    if (!options.allowPrivate && isIP(host) && isPrivateAddress(host)) {
      resolve(
        done({
          ok: false,
          statusCode: null,
          error: `refused: ${host} is a private or loopback address`,
          refused: true,
        }),
      );
      return;
    }
    const client = url.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = client.request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'Kiln-Webhooks/1',
          ...options.headers,
        },
        // no agent: a fresh, guarded connection per attempt, never a pooled socket to an address checked long ago
        createConnection: () => guardedConnection(url, options.allowPrivate),
      },
      (response) => {
        const statusCode = response.statusCode ?? 0;
        let received = 0;
        // Read (and drop) the answer so the socket closes cleanly; a huge body is cut short.
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > MAX_RESPONSE_BYTES) response.destroy();
        });
        response.on('close', () =>
          finish(done({ ok: statusCode >= 200 && statusCode < 300, statusCode, error: null, refused: false })),
        );
        response.on('error', () => undefined);
      },
    );
    const timer = setTimeout(() => {
      request.destroy(new Error(`timeout after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on('error', (err: NodeJS.ErrnoException) => {
      const refused = err instanceof WebhookUrlRefused;
      const message = refused ? `refused: ${err.message}` : err.code ? `${err.code}: ${err.message}` : err.message;
      finish(done({ ok: false, statusCode: null, error: message, refused }));
    });
    request.end(body);
  });
}
