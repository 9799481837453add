/**
 * A submission refused on a Redis error leaves no job (docs/reliability.md). The narrow race of
 * the fault suite, made certain: the API's Redis connection goes through a TCP proxy that, when
 * armed, lets the submission's MULTI … EXEC reach Redis and then cuts the connection before the
 * reply comes back. Redis has run the transaction (the job and its bookkeeping exist) while the
 * API answers 503; once the connection is back the API withdraws the job: not in Redis, not in
 * the tenant's listing, no `max_queued_jobs` slot, nothing in the backlog. Without the withdrawal
 * the job would wait for a worker (the `added` event on the queue's stream proves Redis ran it).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil, startHarness, type Harness } from './harness.js';

/** Cuts the client side of a proxied connection when the reply to an EXEC starts to arrive. */
class ExecCutter {
  armed = false;
  cuts = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly upstream: { host: string; port: number }) {
    this.server = createServer((client) => {
      const server = connect(upstream);
      this.sockets.add(client).add(server);
      let execSent = false;
      client.on('data', (chunk) => {
        if (this.armed && /\r\nexec\r\n/i.test(chunk.toString('latin1'))) execSent = true;
        server.write(chunk);
      });
      server.on('data', (chunk) => {
        if (execSent) {
          // Redis ran the transaction; its reply never reaches the API.
          this.armed = false;
          this.cuts++;
          client.destroy();
          server.destroy();
          return;
        }
        client.write(chunk);
      });
      const close = () => {
        client.destroy();
        server.destroy();
      };
      client.on('close', close).on('error', close);
      server.on('close', close).on('error', close);
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve) =>
      this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)),
    );
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
let cutter: ExecCutter;
let harness: Harness;
let redis: Redis;

beforeAll(async () => {
  const target = new URL(redisUrl);
  cutter = new ExecCutter({ host: target.hostname, port: Number(target.port || 6379) });
  const port = await cutter.listen();
  // No worker: what is withdrawn here is a waiting job (a job a worker took first is canceled
  // unbilled instead: test/job-withdrawal.test.ts).
  harness = await startHarness(
    { REDIS_URL: `redis://127.0.0.1:${port}`, KILN_ALLOW_ANY_RESOLUTION: '1' },
    { worker: false },
  );
  redis = new Redis(redisUrl);
});
afterAll(async () => {
  redis?.disconnect();
  await harness?.stop();
  await cutter?.close();
});

describe.skipIf(redisUrl.startsWith('redis-cluster:'))('a submission whose reply Redis never delivered', () => {
  it('answers 503 and withdraws the job Redis created once the connection is back', async () => {
    const prefix = harness.config.queuePrefix;
    const body = JSON.stringify({ prompt: 'refused', steps: 2, width: 64, height: 64 });
    const post = () =>
      fetch(`${harness.url}/generate/sd`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-octoai-async': '1' },
        body,
      });

    const kept = await post();
    expect(kept.status).toBe(201);
    const keptId = ((await kept.json()) as { response_id: string }).response_id;

    cutter.armed = true;
    const refused = await post();
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(cutter.cuts).toBe(1);

    // Redis ran it: the queue's event stream has an `added` event for a job nobody was told of.
    const events = await redis.xrange(`${prefix}:render:events`, '-', '+');
    const added = events
      .map(([, fields]) => Object.fromEntries(fields.flatMap((v, i) => (i % 2 ? [] : [[v, fields[i + 1]]]))))
      .filter((e) => e.event === 'added')
      .map((e) => e.jobId as string);
    const refusedId = added.find((id) => id !== keptId);
    expect(refusedId, 'the refused submission reached Redis').toBeDefined();

    // Withdrawn once the API's connection is ready again: the job, then its backlog entry (a
    // second round trip, job-withdrawal.ts), so wait for the last of them.
    await pollUntil(async () => {
      const job = await redis.exists(`${prefix}:render:${refusedId}`);
      const backlog = await redis.hget(`${prefix}:kiln:backlog-jobs`, refusedId!);
      return job === 0 && backlog === null ? true : undefined;
    }, 10_000);
    expect(await redis.zscore(`${prefix}:render:prioritized`, refusedId!)).toBeNull();
    expect(await redis.hget(`${prefix}:kiln:backlog-jobs`, refusedId!)).toBeNull();
    expect(await redis.exists(`${prefix}:kiln:usage-recorded:${refusedId}`)).toBe(1);

    // The API serves again; the listing has the accepted job only, and polling the refused id is 404.
    const list = (await (await fetch(`${harness.url}/v1/jobs`)).json()) as { jobs: { id: string }[] };
    expect(list.jobs.map((j) => j.id)).toEqual([keptId]);
    expect((await fetch(`${harness.url}/v1/jobs/${refusedId}`)).status).toBe(404);
    expect(await redis.exists(`${prefix}:render:${keptId}`)).toBe(1);
    expect(await redis.hget(`${prefix}:kiln:backlog-jobs`, keptId)).not.toBeNull();
  });
});
