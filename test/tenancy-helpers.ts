/**
 * Helpers for tests with API keys: a keys file written into a temp dir (SHA-256 hashes of random
 * bearer tokens, as an operator would write it) and a small HTTP client that sends a token.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TestKey {
  id: string;
  tenant: string;
  token: string;
  rate_limit_per_minute?: number;
  max_queued_jobs?: number;
  lane?: 'interactive' | 'batch';
  /** An operator key: also sees the fleet (GET /v1/workers, GET /v1/queue). */
  operator?: boolean;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function newKey(id: string, tenant: string, extra: Partial<TestKey> = {}): TestKey {
  return { id, tenant, token: `kiln_${randomBytes(18).toString('base64url')}`, ...extra };
}

/** Writes `keys` to `file` the way an operator's tool would: a new file renamed over the old one. */
export async function writeKeysFile(file: string, keys: readonly TestKey[]): Promise<void> {
  const body = {
    keys: keys.map(({ token, ...key }) => ({
      ...key,
      token_sha256: sha256(token),
      webhook_secret: `whsec_${randomBytes(24).toString('base64')}`,
    })),
  };
  const staging = `${file}.${randomBytes(4).toString('hex')}`;
  await writeFile(staging, JSON.stringify(body, null, 2));
  await rename(staging, file);
}

export async function keysFileWith(keys: readonly TestKey[]): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-keys-'));
  const file = path.join(dir, 'keys.json');
  await writeKeysFile(file, keys);
  return file;
}

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/** HTTP as a client with one API key (or none). */
export function client(baseUrl: string, token?: string) {
  const send = async (
    method: string,
    pathname: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> => {
    const res = await fetch(`${baseUrl}${pathname}`, {
      method,
      headers: {
        ...(token && { authorization: `Bearer ${token}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  };
  return {
    get: (pathname: string, headers?: Record<string, string>) => send('GET', pathname, undefined, headers),
    post: (pathname: string, body?: unknown, headers?: Record<string, string>) =>
      send('POST', pathname, body ?? {}, headers),
    send,
  };
}

export type Client = ReturnType<typeof client>;

/** A small, fast request for the tiny model (needs KILN_ALLOW_ANY_RESOLUTION=1). */
export const smallRequest = (extra: Record<string, unknown> = {}) => ({
  prompt: 'a small test',
  width: 64,
  height: 64,
  steps: 2,
  seed: 1,
  image_encoding: 'png',
  ...extra,
});

export const ASYNC = { 'X-OctoAI-Async': '1' } as const;
