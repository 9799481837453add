/**
 * Fairness over real HTTP, Redis and a real worker: tenant A queues a big batch, tenant B a small
 * one a moment later; B's items interleave with A's backlog instead of waiting behind it, and an
 * interactive request overtakes every queued batch item.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startHarness, type Harness } from './harness.js';
import { client, sha256, type Client } from './tenancy-helpers.js';

const tiny = (tenant: string, i: number) => ({
  custom_id: `${tenant}-${i}`,
  url: '/generate/sd',
  body: { prompt: `${tenant} ${i}`, width: 64, height: 64, steps: 1, seed: i, image_encoding: 'png' },
});
const jsonl = (items: unknown[]) => items.map((i) => JSON.stringify(i)).join('\n');

let h: Harness;
let dir: string;
let a: Client;
let b: Client;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-fair-'));
  const file = path.join(dir, 'keys.json');
  await writeFile(
    file,
    JSON.stringify({
      keys: [
        { id: 'ka', tenant: 'big', token_sha256: sha256('fair-a') },
        { id: 'kb', tenant: 'small', token_sha256: sha256('fair-b') },
      ],
    }),
  );
  h = await startHarness({
    KILN_KEYS_FILE: file,
    KILN_HOST: '127.0.0.1',
    KILN_ALLOW_ANY_RESOLUTION: '1',
    KILN_INTRA_OP_THREADS: '1',
  });
  a = client(h.url, 'fair-a');
  b = client(h.url, 'fair-b');
});
afterAll(async () => {
  await h?.stop();
  await rm(dir, { recursive: true, force: true });
});

const batch = async (c: Client, id: string) => (await c.get(`/v1/batches/${id}`)).json;
const results = async (c: Client, id: string) =>
  (await c.get(`/v1/batches/${id}/results`)).text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe('fair sharing of workers between tenants', () => {
  it('finishes a small batch long before a big one queued earlier, and serves interactive requests first', async () => {
    const big = await a.send('POST', '/v1/batches', jsonl(Array.from({ length: 400 }, (_, i) => tiny('a', i))), {
      'content-type': 'application/x-ndjson',
    });
    expect(big.status, big.text).toBe(201);
    await pollUntil(async () => ((await batch(a, big.json.id)).counts.completed >= 20 ? true : undefined), 60_000, 20);

    // an interactive request overtakes the ~380 queued batch items
    const syncSubmittedAt = Date.now();
    const sync = await a.post('/generate/sd', { prompt: 'now please', width: 64, height: 64, steps: 1, seed: 1 });
    expect(sync.status, sync.text).toBe(200);
    const syncJob = (await a.get(`/v1/jobs/${sync.json.id}`)).json;

    const submittedAt = Date.now();
    const small = await b.send('POST', '/v1/batches', jsonl(Array.from({ length: 10 }, (_, i) => tiny('b', i))), {
      'content-type': 'application/x-ndjson',
    });
    expect(small.status, small.text).toBe(201);
    const smallDone = await pollUntil(
      async () => {
        const s = await batch(b, small.json.id);
        return s.status === 'completed' ? s : undefined;
      },
      60_000,
      20,
    );
    const bigAtThatTime = await batch(a, big.json.id);
    // B waited for about as many of A's items as it had itself (interleaving), not for A's backlog
    expect(bigAtThatTime.counts.queued).toBeGreaterThan(250);

    const bigDone = await pollUntil(
      async () => {
        const s = await batch(a, big.json.id);
        return s.status === 'completed' ? s : undefined;
      },
      120_000,
      200,
    );
    const aLines = await results(a, big.json.id);
    const smallFinished = Date.parse(smallDone.finished_at);
    const during = aLines.filter(
      (l) => Date.parse(l.finished_at) > submittedAt && Date.parse(l.finished_at) <= smallFinished,
    );
    const after = aLines.filter((l) => Date.parse(l.finished_at) > smallFinished);
    // while the interactive request waited, at most the batch item already running finished (and one racing its start)
    const duringSync = aLines.filter(
      (l) =>
        Date.parse(l.finished_at) > syncSubmittedAt && Date.parse(l.finished_at) <= Date.parse(syncJob.finished_at),
    );
    expect(duringSync.length).toBeLessThanOrEqual(2);
    expect(during.length).toBeLessThanOrEqual(10 + 4);
    expect(after.length).toBeGreaterThan(250);
    expect(Date.parse(bigDone.finished_at)).toBeGreaterThan(smallFinished);
    // B's own items are in its own results, all done
    expect((await results(b, small.json.id)).every((l) => l.status === 'completed')).toBe(true);
    // and A cannot see B's batch
    expect((await a.get(`/v1/batches/${small.json.id}`)).status).toBe(404);
  }, 180_000);
});
