/**
 * API keys and tenants over real HTTP, Redis and a worker: every endpoint that takes an id hides
 * other tenants' jobs (404, like a job that does not exist), listings and usage show only the
 * caller's tenant, the keys file is re-read while Kiln runs, and local mode binds to loopback.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyLora } from '@kiln/testkit';
import { ensureTestModel, pollUntil, startHarness, tinyModelsDir, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, writeKeysFile, type Client } from './tenancy-helpers.js';

const KILN_BIN = path.resolve(import.meta.dirname, '../apps/cli/bin/kiln.js');

let h: Harness;
let keysFile: string;
let acme: Client;
let acmeOther: Client;
let globex: Client;
const acmeKey = newKey('acme-main', 'acme');
const acmeSecondKey = newKey('acme-second', 'acme');
const globexKey = newKey('globex-main', 'globex');

beforeAll(async () => {
  keysFile = await keysFileWith([acmeKey, acmeSecondKey, globexKey]);
  h = await startHarness({ KILN_KEYS_FILE: keysFile, KILN_ALLOW_ANY_RESOLUTION: '1', KILN_HOST: '127.0.0.1' });
  acme = client(h.url, acmeKey.token);
  acmeOther = client(h.url, acmeSecondKey.token);
  globex = client(h.url, globexKey.token);
});
afterAll(() => h?.stop());

describe('tenant isolation', () => {
  let acmeJob: string;

  beforeAll(async () => {
    const done = await acme.post('/generate/sd', smallRequest({ seed: 3 }));
    expect(done.status, done.text).toBe(200);
    acmeJob = done.json.id;
  });

  it('needs a valid key on every /v1 and /generate endpoint', async () => {
    for (const c of [client(h.url), client(h.url, 'kiln_not-a-key')]) {
      for (const [method, pathname] of [
        ['GET', `/v1/jobs/${acmeJob}`],
        ['GET', '/v1/jobs'],
        ['GET', '/v1/usage'],
        ['POST', '/generate/sd'],
        ['POST', `/v1/jobs/${acmeJob}/cancel`],
      ] as const) {
        const reply = await c.send(method, pathname, method === 'POST' ? smallRequest() : undefined);
        expect(reply.status, `${method} ${pathname}`).toBe(401);
        expect(reply.json.error.code).toBe('unauthorized');
      }
    }
    // The public routes answer without a key (app.ts's PUBLIC_PATHS), matched as Express matches
    // routes: in any case, with a trailing slash.
    const publicPaths = [
      '/healthz',
      '/HealthZ',
      '/healthz/',
      '/readyz',
      '/openapi.json',
      '/metrics',
      '/ui/',
      '/UI/mode.json',
    ];
    for (const pathname of publicPaths) expect((await fetch(`${h.url}${pathname}`)).status, pathname).toBe(200);
  });

  it("answers 404 for another tenant's resources on every endpoint that takes an id (walked from the OpenAPI document)", async () => {
    const doc = (await acme.get('/openapi.json')).json;
    // One resource of acme per kind of id; a new kind of endpoint must be added here.
    const resources: Record<string, string> = { jobs: acmeJob, requests: acmeJob, responses: acmeJob };
    if (doc.paths['/v1/batches']?.post) {
      const batch = await acme.post('/v1/batches', {
        requests: [{ custom_id: 'one', url: '/generate/sd', body: smallRequest({ seed: 9 }) }],
      });
      expect(batch.status, batch.text).toBe(201);
      resources.batches = batch.json.id;
    }
    if (doc.paths['/v1/assets']?.post) {
      const lora = await makeTinyLora(await ensureTestModel('tiny-sd15'));
      const form = new FormData();
      form.append('name', 'acme-style');
      form.append('type', 'lora');
      form.append('file', new Blob([lora.kohyaF32]), 'acme-style.safetensors');
      const headers = { authorization: `Bearer ${acmeKey.token}` };
      const uploaded = await fetch(`${h.url}/v1/assets`, { method: 'POST', headers, body: form });
      expect(uploaded.status, await uploaded.clone().text()).toBe(201);
      resources.assets = 'acme-style';
    }
    const templates = Object.keys(doc.paths).filter((p) => p.startsWith('/v1/') && p.includes('{'));
    expect(templates.filter((t) => !resources[t.split('/')[2]!])).toEqual([]);
    expect(templates).toEqual(
      expect.arrayContaining([
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/images/{index}',
        '/v1/requests/{id}',
        '/v1/responses/{id}',
        '/v1/jobs/{id}/cancel',
      ]),
    );
    let walked = 0;
    for (const template of templates) {
      const id = resources[template.split('/')[2]!]!;
      for (const method of Object.keys(doc.paths[template]).filter((m) =>
        ['get', 'post', 'put', 'patch', 'delete'].includes(m),
      )) {
        const send = (c: Client, resourceId: string) =>
          c.send(
            method.toUpperCase(),
            template.replace('{id}', resourceId).replace('{name}', resourceId).replace('{index}', '0'),
            method === 'get' || method === 'delete' ? undefined : {},
          );
        const foreign = await send(globex, id);
        const missing = await send(globex, 'no-such-id');
        expect(foreign.status, `${method} ${template} as another tenant`).toBe(404);
        expect(foreign.json?.error?.code).toBe('not_found');
        // Indistinguishable from an id that does not exist, apart from the id in the message.
        expect(foreign.json.error.message.replace(id, 'ID')).toBe(
          missing.json.error.message.replace('no-such-id', 'ID'),
        );
        if (method === 'get') expect((await send(acme, id)).status, `${method} ${template} as the owner`).toBe(200);
        walked++;
      }
    }
    expect(walked).toBeGreaterThanOrEqual(5);
    // The foreign POSTs changed nothing.
    expect((await acme.get(`/v1/jobs/${acmeJob}`)).json.status).toBe('completed');
    if (resources.assets) expect((await acme.get('/v1/assets/acme-style')).status).toBe(200);
    if (resources.batches) {
      expect((await acme.get(`/v1/batches/${resources.batches}`)).json.status).not.toBe('canceled');
      expect((await globex.get(`/v1/jobs?batch_id=${resources.batches}`)).json.jobs).toEqual([]);
      expect((await acme.get(`/v1/jobs?batch_id=${resources.batches}`)).json.jobs).toHaveLength(1);
      const globexBatches = JSON.stringify((await globex.get('/v1/batches')).json);
      expect(globexBatches).not.toContain(resources.batches);
    }
  });

  it("a second key of the same tenant sees the tenant's jobs", async () => {
    expect((await acmeOther.get(`/v1/jobs/${acmeJob}`)).status).toBe(200);
  });

  it("lists only the caller's tenant's jobs, with or without filters", async () => {
    const g = await globex.post('/generate/sd', smallRequest({ seed: 4 }), ASYNC);
    expect(g.status).toBe(201);
    for (const query of ['', '?status=completed', '?status=queued,running,completed', `?batch_id=b1`]) {
      const ids = (await globex.get(`/v1/jobs${query}`)).json.jobs.map((j: any) => j.id);
      expect(ids, query).not.toContain(acmeJob);
    }
    const acmeIds = (await acme.get('/v1/jobs')).json.jobs.map((j: any) => j.id);
    expect(acmeIds).toContain(acmeJob);
    expect(acmeIds).not.toContain(g.json.response_id);
  });

  it("shows usage of the caller's tenant only; another tenant's key id answers 404", async () => {
    await pollUntil(async () => ((await acme.get('/v1/usage')).json.totals.jobs >= 1 ? true : undefined));
    const mine = await acme.get('/v1/usage');
    expect(mine.json.tenant).toBe('acme');
    expect(mine.json.usage.every((row: any) => row.key_id.startsWith('acme-'))).toBe(true);
    expect((await acme.get('/v1/usage?key_id=acme-main')).status).toBe(200);
    const foreign = await globex.get('/v1/usage?key_id=acme-main');
    expect(foreign.status).toBe(404);
    expect(foreign.json.error.code).toBe('not_found');
    expect((await globex.get('/v1/usage')).json.usage.some((row: any) => row.key_id.startsWith('acme-'))).toBe(false);
  });
});

describe('the keys file', () => {
  it('is re-read when it changes: new keys work, removed keys stop, a broken file keeps the last good keys', async () => {
    const newcomer = newKey('initech-1', 'initech');
    expect((await client(h.url, newcomer.token).get('/v1/jobs')).status).toBe(401);

    await writeKeysFile(keysFile, [acmeKey, acmeSecondKey, globexKey, newcomer]);
    expect((await client(h.url, newcomer.token).get('/v1/jobs')).status).toBe(200);

    await writeKeysFile(keysFile, [acmeKey, globexKey, newcomer]);
    expect((await acmeOther.get('/v1/jobs')).status).toBe(401);
    expect((await acme.get('/v1/jobs')).status).toBe(200);

    // Mid-edit garbage, then an invalid key: the last good keys stay in service.
    await writeFile(keysFile, '{"keys": [');
    expect((await acme.get('/v1/jobs')).status).toBe(200);
    await writeFile(keysFile, JSON.stringify({ keys: [{ id: 'x', tenant: 'y', token_sha256: 'short' }] }));
    expect((await client(h.url, newcomer.token).get('/v1/jobs')).status).toBe(200);

    await writeKeysFile(keysFile, [acmeKey, acmeSecondKey, globexKey]);
    expect((await client(h.url, newcomer.token).get('/v1/jobs')).status).toBe(401);
    expect((await acmeOther.get('/v1/jobs')).status).toBe(200);
  });
});

/** A free TCP port on loopback. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

describe('local mode (no keys file)', () => {
  it('`kiln api` binds to loopback only, even when KILN_HOST asks for every interface, and says so', async () => {
    const port = await freePort();
    const { KILN_KEYS_FILE: _none, ...env } = process.env;
    const child = spawn(process.execPath, [KILN_BIN, 'api'], {
      env: {
        ...env,
        PORT: String(port),
        KILN_HOST: '0.0.0.0',
        KILN_QUEUE_PREFIX: h.config.queuePrefix,
        KILN_DATA_DIR: h.dataDir,
        KILN_MODELS_DIR: await tinyModelsDir(),
        KILN_LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    try {
      await pollUntil(async () => (/local mode/.test(output) ? true : undefined), 30_000);
      expect(output).toMatch(/loopback only/);
      const lines = output
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
      const listening = lines.find((l) => typeof l.url === 'string');
      expect(listening.url).toBe(`http://127.0.0.1:${port}`);
      // Not reachable on the machine's other addresses.
      const external = Object.values(os.networkInterfaces())
        .flat()
        .find((a) => a && a.family === 'IPv4' && !a.internal);
      if (external) {
        const refused = await fetch(`http://${external.address}:${port}/healthz`).then(
          () => false,
          () => true,
        );
        expect(refused, `reachable on ${external.address}`).toBe(true);
      }
      // Any (or no) token is the local tenant.
      const reply = await fetch(`http://127.0.0.1:${port}/v1/usage`);
      expect(reply.status).toBe(200);
      expect(((await reply.json()) as any).tenant).toBe('local');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
