/**
 * Reading jobs while they end, over real HTTP, Redis and a worker: readers poll the job that is
 * about to finish on every read route at once, and every answer must be whole. A job that ends
 * between two Redis reads of one request once answered `completed` with no images, `failed` with
 * the attempts of its running record, or 500 on its image (job-views.ts `viewOf`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './harness.js';
import { ASYNC, client, keysFileWith, newKey, smallRequest, type Client, type Reply } from './tenancy-helpers.js';

const JOBS = 16;
const READERS = 4;

let h: Harness;
let api: Client;
const key = newKey('reader', 'acme');

beforeAll(async () => {
  h = await startHarness({ KILN_KEYS_FILE: await keysFileWith([key]), KILN_ALLOW_ANY_RESOLUTION: '1' });
  api = client(h.url, key.token);
});
afterAll(() => h?.stop());

/** What is wrong with one answer about job `id`, or undefined. */
function faultOf(route: string, reply: Reply): string | undefined {
  if (reply.status >= 500) return `${route} answered ${reply.status}: ${reply.text}`;
  if (route === 'job') {
    const job = reply.json;
    const ended = job.status === 'completed' || job.status === 'failed' || job.status === 'canceled';
    if (ended !== (job.finished_at !== null)) return `job ${job.status} with finished_at ${job.finished_at}`;
    if (job.status === 'completed' && job.images.length !== job.progress.num_images) {
      return `job completed with ${job.images.length} of ${job.progress.num_images} images`;
    }
    if (job.status !== 'failed' && job.error !== null) return `job ${job.status} with an error`;
    if (job.status === 'running' && job.started_at === null) return 'job running with started_at null';
  }
  if (route === 'request' && (reply.json.status === 'completed') !== Boolean(reply.json.response_url)) {
    return `request ${reply.json.status} with response_url ${reply.json.response_url}`;
  }
  if (route === 'response' && reply.status === 200 && reply.json.images.length !== 1) {
    return `response with ${reply.json.images.length} images`;
  }
  if (route === 'response' && reply.status !== 200 && reply.json?.error?.code !== 'not_ready') {
    return `response ${reply.status} ${reply.text}`;
  }
  if (route === 'image' && reply.status !== 200 && reply.status !== 404) return `image ${reply.status}`;
  return undefined;
}

describe('reading jobs while they end', () => {
  it('answers every read of a finishing job whole, on every route', async () => {
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const accepted = await api.post('/generate/sd', smallRequest({ seed: i + 1 }), ASYNC);
      expect(accepted.status, accepted.text).toBe(201);
      ids.push(accepted.json.response_id);
    }
    const completed = new Set<string>();
    const faults: string[] = [];
    let reads = 0;
    const deadline = Date.now() + 120_000;

    // Every reader reads the oldest job not yet seen completed: the one ending next.
    const reader = async () => {
      while (completed.size < JOBS && Date.now() < deadline && faults.length === 0) {
        const id = ids.find((candidate) => !completed.has(candidate)) as string;
        const replies: [string, Reply][] = await Promise.all([
          api.get(`/v1/jobs/${id}`).then((r): [string, Reply] => ['job', r]),
          api.get(`/v1/requests/${id}`).then((r): [string, Reply] => ['request', r]),
          api.get(`/v1/responses/${id}`).then((r): [string, Reply] => ['response', r]),
          api.get(`/v1/jobs/${id}/images/0`).then((r): [string, Reply] => ['image', r]),
        ]);
        reads += replies.length;
        for (const [route, reply] of replies) {
          const fault = faultOf(route, reply);
          if (fault) faults.push(`${id}: ${fault}`);
        }
        if (replies[0][1].json?.status === 'completed') completed.add(id);
      }
    };
    await Promise.all(Array.from({ length: READERS }, reader));

    expect(faults).toEqual([]);
    expect(completed.size).toBe(JOBS);
    expect(reads).toBeGreaterThan(JOBS * 4);
    const listed = await api.get('/v1/jobs?status=completed&limit=100');
    expect(listed.json.jobs.map((job: { id: string }) => job.id).sort()).toEqual([...ids].sort());
  }, 180_000);
});
