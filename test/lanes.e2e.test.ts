/**
 * Priority lanes: interactive sync requests first, then interactive async ones, then requests of
 * keys in the `batch` lane (keys file), whatever the submission order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, type Client } from './tenancy-helpers.js';

let h: Harness;
let bulk: Client;
let app: Client;

beforeAll(async () => {
  const bulkKey = newKey('bulk', 'acme', { lane: 'batch' });
  const appKey = newKey('app', 'acme');
  // No worker: jobs stay queued, so their queue positions show the lane order.
  h = await startHarness(
    { KILN_KEYS_FILE: await keysFileWith([bulkKey, appKey]), KILN_ALLOW_ANY_RESOLUTION: '1' },
    { worker: false },
  );
  bulk = client(h.url, bulkKey.token);
  app = client(h.url, appKey.token);
});
afterAll(() => h?.stop());

describe('lanes', () => {
  it('queues a batch-lane key behind an interactive key submitted later', async () => {
    const first = await bulk.post('/generate/sd', smallRequest(), ASYNC);
    const second = await app.post('/generate/sd', smallRequest(), ASYNC);
    expect([first.status, second.status]).toEqual([201, 201]);
    const position = async (id: string) => (await app.get(`/v1/jobs/${id}`)).json.queue_position;
    expect(await position(second.json.response_id)).toBe(0);
    expect(await position(first.json.response_id)).toBe(1);
  });
});
