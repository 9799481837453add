/**
 * Fuzz of the API's edge (issue 10): thousands of generated requests over every POST route and
 * every route with an id, against a real `kiln api` process on a real Redis: wrong types, huge
 * numbers, NaN, deep nesting, long strings, unicode edge cases, `__proto__` keys, odd ids, broken
 * encodings. Every answer must be 2xx or 4xx: no 5xx, no request left hanging, no crashed process.
 * Hostile images must be refused with 400 `invalid_image` naming their field.
 *
 * Seeded: KILN_FUZZ_SEED (default 1) and KILN_FUZZ_REQUESTS (default 3000) reproduce a run;
 * the long form is `KILN_FUZZ_REQUESTS=50000 npx vitest run test/fuzz.e2e.test.ts`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fuzzBody,
  fuzzMultipart,
  hostileImages,
  hostileValue,
  mutatedObject,
  ODD_IDS,
  queryValue,
  Rng,
  toJson,
  type FuzzBody,
} from './fuzz-inputs.js';
import { startApiProcess, type ApiProcess } from './harness.js';

const SEED = Number(process.env.KILN_FUZZ_SEED ?? 1);
const REQUESTS = Number(process.env.KILN_FUZZ_REQUESTS ?? 3000);
const CONCURRENCY = 8;
/** A request with no answer after this long counts as hung. */
const HUNG_MS = 20_000;

let api: ApiProcess;
beforeAll(async () => {
  api = await startApiProcess({
    KILN_LOG_LEVEL: 'warn',
    // An SD3 "model" folder, so that valid /generate/sd3 bodies are queued rather than 503 (no worker runs).
    KILN_SD3_MODEL: 'tiny-sd15',
    KILN_BATCH_MAX_ITEMS: '50',
    KILN_ALLOW_ANY_RESOLUTION: '1',
    // 2 MB instead of 32: a gzip bomb is cut after 2 MB of inflating, which keeps thousands of requests fast.
    KILN_MAX_BODY_BYTES: String(2 * 1024 * 1024),
  });
});
afterAll(() => api?.stop());

interface Outcome {
  label: string;
  status: number | 'hung' | 'connection error';
  body: string;
}

async function send(
  method: string,
  pathname: string,
  body?: FuzzBody,
  headers: Record<string, string> = {},
): Promise<Outcome> {
  const label = `${method} ${pathname.slice(0, 120)}${body ? ` [${body.kind}]` : ''}`;
  try {
    const res = await fetch(`${api.url}${pathname}`, {
      method,
      headers: { ...body?.headers, ...headers },
      body: body?.bytes,
      signal: AbortSignal.timeout(HUNG_MS),
    });
    return { label, status: res.status, body: (await res.text()).slice(0, 300) };
  } catch (err) {
    const hung = (err as Error).name === 'TimeoutError';
    return { label, status: hung ? 'hung' : 'connection error', body: String((err as Error).cause ?? err) };
  }
}

/** The routes this file fuzzes; the OpenAPI document must list no other POST route or route with an id. */
const POST_ROUTES = [
  '/generate/sd',
  '/generate/sd3',
  '/v1/batches',
  '/v1/jobs/{id}/cancel',
  '/v1/batches/{id}/cancel',
  '/v1/assets',
];
const GET_ID_ROUTES = [
  '/v1/jobs/{id}',
  '/v1/jobs/{id}/webhooks',
  '/v1/jobs/{id}/images/{index}',
  '/v1/requests/{id}',
  '/v1/responses/{id}',
  '/v1/batches/{id}',
  '/v1/batches/{id}/results',
  '/v1/batches/{id}/webhooks',
  '/v1/assets/{name}',
];

/**
 * The request fields of /generate/sd from the API's own OpenAPI document, so new fields are fuzzed
 * too; and a check that every POST route and every route with an id is in the lists above.
 */
async function requestFields(): Promise<string[]> {
  const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as any;
  const paths = Object.entries(doc.paths as Record<string, Record<string, unknown>>);
  expect(
    paths
      .filter(([, ops]) => ops.post)
      .map(([p]) => p)
      .sort(),
    'a new POST route: fuzz it here',
  ).toEqual([...POST_ROUTES].sort());
  expect(
    paths
      .filter(([p, ops]) => ops.get && p.includes('{'))
      .map(([p]) => p)
      .sort(),
    'a new route with an id',
  ).toEqual([...GET_ID_ROUTES].sort());
  const resolve = (schema: any): any =>
    schema?.$ref ? resolve(doc.components.schemas[schema.$ref.split('/').pop()]) : schema;
  const schema = resolve(doc.paths['/generate/sd'].post.requestBody.content['application/json'].schema);
  const fields = Object.keys(schema.properties ?? {});
  expect(fields).toContain('prompt');
  return fields;
}

describe('fuzz: generated requests over every POST route and every route with an id', () => {
  // ~40 s alone on the 2-core development machine; room for a loaded `npm test`, and time in
  // proportion for the long form (KILN_FUZZ_REQUESTS).
  it(
    `answers ${REQUESTS} hostile requests with 2xx/4xx only, none hung, the process alive`,
    { timeout: Math.max(150_000, REQUESTS * 40) },
    async () => {
      const fields = await requestFields();
      const valid = { prompt: 'a cat', steps: 1, width: 512, height: 512 };
      const known: string[] = [];
      const idOf = (rng: Rng) =>
        known.length > 0 && rng.chance(0.2) ? rng.pick(known) : rng.chance(0.15) ? randomUUID() : rng.pick(ODD_IDS);
      const async = { 'x-octoai-async': '1' };

      const makeRequest = (i: number): Promise<Outcome> => {
        const rng = new Rng(SEED * 1_000_003 + i);
        const r = rng.next();
        const idem = rng.chance(0.1)
          ? { 'idempotency-key': rng.pick(['k', 'x'.repeat(300), ' ', `key-${rng.int(5)}`]) }
          : {};
        if (r < 0.35) return send('POST', '/generate/sd', fuzzBody(rng, valid, fields), { ...async, ...idem });
        if (r < 0.45) return send('POST', '/generate/sd3', fuzzBody(rng, valid, fields), { ...async, ...idem });
        if (r < 0.55) {
          const items = Array.from({ length: 1 + rng.int(3) }, (_, k) =>
            rng.chance(0.5)
              ? { custom_id: `c${i}-${k}`, url: '/generate/sd', body: mutatedObject(rng, valid, fields) }
              : hostileValue(rng),
          );
          const envelope = Buffer.from(toJson({ requests: items }));
          return send('POST', '/v1/batches', {
            kind: 'batch envelope',
            bytes: envelope,
            headers: { 'content-type': 'application/json' },
          });
        }
        if (r < 0.6) {
          const lines = Array.from({ length: 1 + rng.int(4) }, (_, k) =>
            rng.chance(0.5)
              ? toJson({ custom_id: `l${i}-${k}`, url: '/generate/sd', body: valid })
              : fuzzBody(rng, valid, fields).bytes.toString('latin1'),
          );
          return send('POST', '/v1/batches', {
            kind: 'batch jsonl',
            bytes: Buffer.from(lines.join(rng.pick(['\n', '\r\n', '\n\n']))),
            headers: { 'content-type': 'application/x-ndjson' },
          });
        }
        if (r < 0.64) return send('POST', '/v1/batches', fuzzBody(rng, valid, fields));
        if (r < 0.7)
          return send(
            'POST',
            `/v1/jobs/${idOf(rng)}/cancel`,
            rng.chance(0.3) ? fuzzBody(rng, valid, fields) : undefined,
            idem,
          );
        if (r < 0.73)
          return send(
            'POST',
            `/v1/batches/${idOf(rng)}/cancel`,
            rng.chance(0.3) ? fuzzBody(rng, valid, fields) : undefined,
          );
        if (r < 0.76)
          return send('POST', '/v1/assets', rng.chance(0.8) ? fuzzMultipart(rng) : fuzzBody(rng, valid, fields));
        if (r < 0.9) {
          const index = rng.pick(['0', '1', '-1', '99999', '%ff', 'x', '1e400']);
          const name = rng.pick(['style', 'library:x', '..%2f..%2fetc', '%ff', 'a'.repeat(300), '__proto__']);
          const route = rng.pick(GET_ID_ROUTES).replace('{id}', idOf(rng)).replace('{index}', index);
          return send(rng.chance(0.2) && route.includes('{name}') ? 'DELETE' : 'GET', route.replace('{name}', name));
        }
        const list = rng.pick(['/v1/jobs', '/v1/usage', '/v1/batches', `/v1/batches/${idOf(rng)}/results`]);
        const names = [
          'limit',
          'cursor',
          'status',
          'batch_id',
          'offset',
          'order',
          'from',
          'to',
          'key_id',
          '__proto__',
          'limit[]',
        ];
        const query = Array.from({ length: 1 + rng.int(3) }, () => `${rng.pick(names)}=${queryValue(rng)}`).join('&');
        return send('GET', `${list}?${query}`);
      };

      const outcomes: Outcome[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            const outcome = await makeRequest(next++);
            outcomes.push(outcome);
            // Jobs and batches the fuzz created become ids for the routes that take one.
            if (typeof outcome.status === 'number' && outcome.status < 300) {
              const id = /"(?:response_id|id)":"([0-9a-f-]{36})"/.exec(outcome.body)?.[1];
              if (id) known.push(id);
            }
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;

      const byStatus = new Map<string, number>();
      for (const o of outcomes) byStatus.set(String(o.status), (byStatus.get(String(o.status)) ?? 0) + 1);
      const failures = outcomes.filter((o) => typeof o.status !== 'number' || o.status >= 500);
      const serverErrors = outcomes.filter((o) => typeof o.status === 'number' && o.status >= 500).length;
      console.log(
        `fuzz (seed ${SEED}): requests sent ${outcomes.length}, 5xx ${serverErrors}, hung ${byStatus.get('hung') ?? 0}, ` +
          `in ${seconds.toFixed(1)} s; by status ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`,
      );
      expect(failures.slice(0, 10), 'requests answered 5xx, hung or cut').toEqual([]);
      expect(outcomes).toHaveLength(REQUESTS);
      expect(api.alive(), 'the API process is alive').toBe(true);
      expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
      expect(byStatus.get('201') ?? 0, 'some generated bodies were valid and queued').toBeGreaterThan(0);
    },
  );
});

describe('fuzz: hostile images', () => {
  it('refuses each with 400 invalid_image naming the field, and accepts well-formed images', async () => {
    const { good, bad } = await hostileImages();
    const { bytes: fine } = good[0]!;
    const submit = (fields: Record<string, string>) =>
      send(
        'POST',
        '/generate/sd',
        {
          kind: 'image',
          bytes: Buffer.from(JSON.stringify({ prompt: 'x', steps: 1, width: 64, height: 64, ...fields })),
          headers: { 'content-type': 'application/json' },
        },
        { 'x-octoai-async': '1' },
      );
    for (const image of good) {
      const accepted = await submit({ init_image: image.bytes.toString('base64') });
      expect(accepted.status, `${image.name}: ${accepted.body}`).toBe(201);
    }
    let refused = 0;
    for (const image of bad) {
      for (const field of ['init_image', 'mask_image'] as const) {
        const others = field === 'mask_image' ? { init_image: fine.toString('base64') } : {};
        const encoded = image.bytes.toString('base64');
        for (const value of [encoded, `data:image/png;base64,${encoded}`]) {
          const reply = await submit({ ...others, [field]: value });
          expect(reply.status, `${image.name} as ${field}: ${reply.body}`).toBe(400);
          expect(JSON.parse(reply.body).error, image.name).toMatchObject({ code: 'invalid_image', field });
          refused++;
        }
      }
    }
    console.log(
      `hostile images: ${bad.length} kinds, ${refused} requests refused with 400 naming the field; ${good.length} good images accepted`,
    );
    expect(api.alive()).toBe(true);
  });
});
