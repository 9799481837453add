/** GET /v1/jobs over real HTTP and Redis: paging, status and batch filters, retention. */
import { indexJobs } from '@kiln/state';
import { sd15Job } from './job-fixtures.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';
import { ASYNC, client, smallRequest, type Client } from './tenancy-helpers.js';

let h: Harness;
let api: Client;
beforeAll(async () => {
  h = await startHarness({ KILN_ALLOW_ANY_RESOLUTION: '1' }, { worker: false });
  api = client(h.url);
});
afterAll(() => h?.stop());

async function listAll(query: string, limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const reply = await api.get(`/v1/jobs?limit=${limit}${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(reply.status, reply.text).toBe(200);
    ids.push(...reply.json.jobs.map((j: any) => j.id));
    cursor = reply.json.next_cursor;
    pages++;
  } while (cursor && pages < 100);
  return { ids, pages };
}

describe('GET /v1/jobs', () => {
  const created: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 7; i++) {
      const reply = await api.post('/generate/sd', smallRequest({ seed: i }), ASYNC);
      created.push(reply.json.response_id);
      await new Promise((resolve) => setTimeout(resolve, 2)); // distinct creation times
    }
    for (const id of created.slice(1, 3)) expect((await api.post(`/v1/jobs/${id}/cancel`)).status).toBe(200);
  });

  it('pages through every job once, newest first', async () => {
    const { ids, pages } = await listAll('', 3);
    expect(ids).toEqual([...created].reverse());
    expect(pages).toBe(3);
    const first = (await api.get('/v1/jobs?limit=3')).json;
    expect(first.jobs[0]).toMatchObject({
      id: created[6],
      status: 'queued',
      family: 'sd15',
      batch_id: null,
      custom_id: null,
    });
    expect(typeof first.next_cursor).toBe('string');
  });

  it('filters by status, one or several', async () => {
    expect((await listAll('&status=canceled', 50)).ids).toEqual([created[2], created[1]]);
    expect((await listAll('&status=queued', 2)).ids).toEqual([
      created[6],
      created[5],
      created[4],
      created[3],
      created[0],
    ]);
    expect((await listAll('&status=queued,canceled', 50)).ids).toHaveLength(7);
    expect((await listAll('&status=completed', 50)).ids).toEqual([]);
  });

  it('rejects bad parameters with 422 naming them', async () => {
    for (const [query, param] of [
      ['status=done', 'status'],
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['cursor=bm9wZQ', 'cursor'],
    ]) {
      const reply = await api.get(`/v1/jobs?${query}`);
      expect(reply.status, query).toBe(422);
      expect(reply.json.detail[0].loc).toEqual(['query', param]);
    }
  });

  it("filters by batch, from the batch index of the jobs' batch_id; ties in creation time page correctly", async () => {
    const { queue, redis } = h.api.deps;
    const createdAt = Date.now();
    const items: string[] = [];
    for (let i = 0; i < 5; i++) {
      const jobId = `batch-b1-item-${i}`;
      const data = sd15Job(smallRequest(), { seeds: [i], submittedAt: createdAt, batchId: 'b1' });
      await queue.add('sd15', data, { jobId, priority: 10 });
      items.push(jobId);
    }
    // All five created in the same millisecond, as a batch's addBulk does.
    await indexJobs(
      redis,
      h.config.queuePrefix,
      items.map((jobId) => ({ tenant: 'local', jobId, createdAt, batchId: 'b1' })),
      h.config.resultTtlMs,
    );
    const { ids } = await listAll('&batch_id=b1', 2);
    expect([...ids].sort()).toEqual(items);
    expect(new Set(ids).size).toBe(5);
    expect((await api.get('/v1/jobs?batch_id=b1&limit=1')).json.jobs[0].batch_id).toBe('b1');
    expect((await listAll('&batch_id=other', 10)).ids).toEqual([]);
    // Tenant-wide, batch items are listed too.
    expect((await listAll('', 4)).ids).toEqual(expect.arrayContaining(items));
  });

  it('drops jobs that result retention removed', async () => {
    const gone = created[0]!;
    await (await h.api.deps.queue.getJob(gone))!.remove();
    expect((await listAll('', 50)).ids).not.toContain(gone);
    expect(await h.api.deps.redis.zscore(`${h.config.queuePrefix}:kiln:jobs:local`, gone)).toBeNull();
  });
});
