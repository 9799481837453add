import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@kiln/config';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { baseUrlOf } from './base-url.js';

/** What baseUrlOf and Express's own req.protocol answer for one request, through a real server. */
async function answers(
  trustProxy: string | boolean,
  headers: Record<string, string>,
  env: Record<string, string> = {},
) {
  const config = loadConfig(env);
  const app = express();
  app.set('trust proxy', trustProxy);
  app.get(
    '/',
    (req, res) => void res.json({ base: baseUrlOf(req, config), protocol: req.protocol, host: req.get('host') }),
  );
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`, { headers });
    return (await res.json()) as { base: string; protocol: string; host: string };
  } finally {
    server.close();
  }
}

describe('baseUrlOf', () => {
  it("is the connection's own origin without a proxy header", async () => {
    const { base, protocol, host } = await answers('loopback', {});
    expect([base, protocol]).toEqual([`http://${host}`, 'http']);
  });

  it('takes X-Forwarded-Proto from a trusted proxy, as Express does', async () => {
    const { base, protocol, host } = await answers('loopback', { 'x-forwarded-proto': 'https' });
    expect([base, protocol]).toEqual([`https://${host}`, 'https']);
  });

  it('ignores X-Forwarded-Proto from a peer that is not trusted', async () => {
    const { base, protocol, host } = await answers(false, { 'x-forwarded-proto': 'https' });
    expect([base, protocol]).toEqual([`http://${host}`, 'http']);
  });

  it('is KILN_PUBLIC_URL when set, without its trailing slash', async () => {
    const { base } = await answers('loopback', {}, { KILN_PUBLIC_URL: 'https://images.example.com/' });
    expect(base).toBe('https://images.example.com');
  });
});
