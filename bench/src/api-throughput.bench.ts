/**
 * Item 4, API: accepted async submissions per second under load (autocannon against the API in a
 * process of its own, no worker) vs a plain BullMQ `queue.add` loop from this process with the same
 * payload, job options and concurrency on the same Redis. Jobs pile up unrendered and are deleted.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { loadConfig } from '@kiln/config';
import { parseGenerateRequest, toJobRequest, type RenderJobData } from '@kiln/contracts';
import { PRIORITY, createRedis, createRenderQueue } from '@kiln/queue';
import { TINY_MODEL, ensureBenchModel } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import { deleteRedisPrefix, startKilnServer } from './kiln-server.js';
import type { BenchSection } from './report.js';
import { fmt, quantile } from './stats.js';

const BODY = { prompt: 'a watercolor painting of a lighthouse', steps: 10, width: 256, height: 256 };
const CONNECTIONS = 16;

async function loadApi(url: string, seconds: number) {
  return autocannon({
    url: `${url}/generate/sd`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-octoai-async': '1' },
    body: JSON.stringify(BODY),
    connections: CONNECTIONS,
    duration: seconds,
  });
}

/** `loops` concurrent loops adding the API's job payload for `seconds`; adds per second and per-add latencies. */
async function queueAddLoop(redisUrl: string | undefined, seconds: number, loops: number) {
  const prefix = `kiln-bench-${randomBytes(4).toString('hex')}`;
  const connection = createRedis(redisUrl);
  const config = loadConfig({ KILN_QUEUE_PREFIX: prefix });
  const queue = createRenderQueue(connection, {
    prefix,
    attempts: config.jobAttempts,
    retentionMs: config.resultTtlMs,
  });
  const parsed = parseGenerateRequest('sd15', BODY, { allowAnyResolution: true });
  if (!parsed.success) throw new Error('benchmark body does not validate');
  const jobRequest = toJobRequest(parsed.data);
  const latencies: number[] = [];
  try {
    await queue.waitUntilReady();
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: loops }, async () => {
        while (performance.now() < deadline) {
          const data: RenderJobData = {
            ...jobRequest,
            tenant: 'local',
            keyId: 'local',
            seeds: [randomInt(0, 2 ** 32)],
            inputs: {},
            submittedAt: Date.now(),
            baseUrl: '',
          };
          const started = performance.now();
          await queue.add('sd15', data, { jobId: randomUUID(), priority: PRIORITY.async });
          latencies.push(performance.now() - started);
        }
      }),
    );
  } finally {
    await queue.close();
    connection.disconnect();
    await deleteRedisPrefix(redisUrl, prefix);
  }
  return { perSecond: latencies.length / seconds, latencies };
}

export async function apiThroughputBench(ctx: BenchContext): Promise<BenchSection> {
  await ensureBenchModel(TINY_MODEL, ctx.log);
  const seconds = ctx.quick ? 3 : 8;
  const server = await startKilnServer({ model: TINY_MODEL.name, worker: false });
  let api: autocannon.Result;
  let loop: Awaited<ReturnType<typeof queueAddLoop>>;
  let concurrent: Awaited<ReturnType<typeof queueAddLoop>>;
  try {
    await loadApi(server.url, 1); // warm-up: JIT, connection pools
    await queueAddLoop(server.redisUrl, 1, CONNECTIONS);
    api = await loadApi(server.url, seconds);
    loop = await queueAddLoop(server.redisUrl, seconds, 1);
    concurrent = await queueAddLoop(server.redisUrl, seconds, CONNECTIONS);
  } finally {
    await server.stop();
  }
  const accepted = api['2xx'] / seconds;
  const ratio = accepted / loop.perSecond;
  const concurrentRatio = accepted / concurrent.perSecond;
  const failures = api.non2xx + api.errors + api.timeouts;
  const why = (perSecond: number, what: string) =>
    `${fmt(1000 / accepted, 3)} ms per submission through HTTP, Express, validation and the API's bookkeeping ` +
    `(rate limit, admission, tenant job index: ~10 Redis commands per submission, counted with INFO commandstats) against ${fmt(1000 / perSecond, 3)} ms for ${what}` +
    `${failures ? `; ${failures} requests failed` : ''}; autocannon, the API process and Redis share 2 cores.`;
  return {
    title: 'Item 4: API submissions',
    rows: [
      {
        id: '4a',
        what: 'API: async submissions/s ÷ plain queue.add/s',
        value: fmt(ratio, 2),
        goal: '≥ 0.5',
        met: ratio >= 0.5 && failures === 0,
        shortfall: fmt(0.5 - ratio, 2),
        why: why(loop.perSecond, 'one bare queue.add in a loop'),
        basis: `autocannon, ${CONNECTIONS} connections × ${seconds} s against POST /generate/sd (X-OctoAI-Async) vs a plain \`await queue.add\` loop (one add at a time), same payload and job options, same Redis`,
        command: reproduce('api'),
      },
      {
        id: '4b',
        what: `API: async submissions/s ÷ ${CONNECTIONS} concurrent queue.add loops`,
        value: fmt(concurrentRatio, 2),
        goal: '≥ 0.5',
        met: concurrentRatio >= 0.5 && failures === 0,
        shortfall: fmt(0.5 - concurrentRatio, 2),
        why: why(concurrent.perSecond, `${CONNECTIONS} pipelined queue.adds`),
        basis: `the stricter reading: as many adds in flight as autocannon has connections (ioredis pipelines them)`,
        command: reproduce('api'),
      },
      {
        id: '4c',
        what: 'API: async submission latency p99',
        value: `${api.latency.p99} ms`,
        goal: '',
        basis: `same run; plain queue.add p99 ${fmt(quantile(loop.latencies, 0.99), 2)} ms`,
        command: reproduce('api'),
      },
    ],
    lines: [
      `API (own process, no worker): ${fmt(accepted, 0)} accepted submissions/s, latency p50 ${api.latency.p50} ms, p99 ${api.latency.p99} ms, ${failures} failed; ` +
        `plain queue.add loop: ${fmt(loop.perSecond, 0)} adds/s, p50 ${fmt(quantile(loop.latencies, 0.5), 2)} ms, p99 ${fmt(quantile(loop.latencies, 0.99), 2)} ms; ` +
        `${CONNECTIONS} concurrent loops: ${fmt(concurrent.perSecond, 0)} adds/s, p50 ${fmt(quantile(concurrent.latencies, 0.5), 2)} ms, p99 ${fmt(quantile(concurrent.latencies, 0.99), 2)} ms.`,
      'The load generator and the queue.add loop run in the benchmark process; on a 2-core machine they share the CPU with the API process and Redis.',
    ],
  };
}
