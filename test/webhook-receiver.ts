/**
 * A real HTTP server that receives webhooks for tests: it records every request (raw body and
 * headers, arrival time) and answers as told per path: fail the first N, redirect, hang, or 200.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  at: number;
  /** The status this receiver answered with (0 when it hung). */
  answered: number;
}

export type Behavior = { failFirst?: number; failStatus?: number } | { redirectTo: string } | { hang: true };

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests to one path. */
  at(path: string): Received[];
  behave(path: string, behavior: Behavior): void;
  waitFor(path: string, count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const behaviors = new Map<string, Behavior>();
  const seen = new Map<string, number>();
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0];
      const n = (seen.get(path) ?? 0) + 1;
      seen.set(path, n);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const record: Received = {
        path,
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        answered: 0,
      };
      received.push(record);
      const behavior = behaviors.get(path) ?? {};
      if ('hang' in behavior) {
        hanging.add(res);
        return;
      }
      if ('redirectTo' in behavior) {
        record.answered = 302;
        res.writeHead(302, { location: behavior.redirectTo }).end();
        return;
      }
      const fail = n <= (behavior.failFirst ?? 0);
      record.answered = fail ? (behavior.failStatus ?? 500) : 200;
      res.writeHead(record.answered, { 'content-type': 'text/plain' }).end(fail ? 'not now' : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const at = (path: string) => received.filter((r) => r.path === path);
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    at,
    behave: (path, behavior) => behaviors.set(path, behavior),
    async waitFor(path, count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (at(path).length < count) {
        if (Date.now() > deadline)
          throw new Error(`receiver: ${at(path).length} of ${count} requests to ${path} within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return at(path);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
