/**
 * Item 4, API: accepted async submissions per second under load (autocannon against the API in a
 * process of its own, no worker) vs a plain BullMQ `queue.add` loop from this process with the same
 * payload, job options and concurrency on the same Redis, taking turns in short rounds; and the
 * latency one submission adds, one at a time, over a bare `queue.add`. Jobs pile up unrendered and
 * are deleted.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { loadConfig } from '@kiln/config';
import { parseGenerateRequest, toJobRequest, type RenderJobData } from '@kiln/contracts';
import { PRIORITY, createRedis, createRenderQueue } from '@kiln/queue';
import { TINY_MODEL, ensureBenchModel } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import { deleteRedisPrefix, startKilnServer, type KilnServer } from './kiln-server.js';
import type { BenchSection } from './report.js';
import { fmt, median, quantile } from './stats.js';

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

/** The API's job payload for the bare queue.add side, as the API builds it for {@link BODY}. */
function jobPayload(jobRequest: ReturnType<typeof toJobRequest>): RenderJobData {
  return {
    ...jobRequest,
    tenant: 'local',
    keyId: 'local',
    seeds: [randomInt(0, 2 ** 32)],
    inputs: {},
    submittedAt: Date.now(),
    baseUrl: '',
  };
}

/** A queue of its own (own prefix) on the server's Redis, with the API's job options. */
async function bareQueue(redisUrl: string | undefined) {
  const prefix = `kiln-bench-${randomBytes(4).toString('hex')}`;
  const connection = createRedis(redisUrl);
  const config = loadConfig({ KILN_QUEUE_PREFIX: prefix });
  const queue = createRenderQueue(connection, {
    prefix,
    attempts: config.jobAttempts,
    retentionMs: config.resultTtlMs,
  });
  await queue.waitUntilReady();
  const parsed = parseGenerateRequest('sd15', BODY, { allowAnyResolution: true });
  if (!parsed.success) throw new Error('benchmark body does not validate');
  const jobRequest = toJobRequest(parsed.data);
  return {
    add: () => queue.add('sd15', jobPayload(jobRequest), { jobId: randomUUID(), priority: PRIORITY.async }),
    async close() {
      await queue.close();
      connection.disconnect();
      await deleteRedisPrefix(redisUrl, prefix);
    },
  };
}

type BareQueue = Awaited<ReturnType<typeof bareQueue>>;

/** `loops` concurrent loops of `await queue.add` for `seconds`; the per-add latencies. */
async function queueAddLoop(queue: BareQueue, seconds: number, loops: number): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: loops }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await queue.add();
        latencies.push(performance.now() - started);
      }
    }),
  );
  return latencies;
}

/**
 * One submission at a time, taking turns: an async POST, then a bare queue.add. What the API adds
 * to a submission, without load: HTTP, Express, validation and its bookkeeping.
 */
async function pairedLatencies(url: string, queue: BareQueue, pairs: number) {
  const api: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let started = performance.now();
    const res = await fetch(`${url}/generate/sd`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-octoai-async': '1' },
      body: JSON.stringify(BODY),
    });
    await res.arrayBuffer();
    if (res.status !== 201) throw new Error(`async submission answered ${res.status}`);
    api.push(performance.now() - started);
    started = performance.now();
    await queue.add();
    bare.push(performance.now() - started);
  }
  return { api, bare, added: api.map((ms, i) => ms - bare[i]) };
}

export async function apiThroughputBench(ctx: BenchContext): Promise<BenchSection> {
  await ensureBenchModel(TINY_MODEL, ctx.log);
  // The sides take turns in short rounds (order alternating), so that load from outside this
  // benchmark (a shared machine) falls on both sides alike rather than on whichever ran last.
  const rounds = ctx.quick ? 2 : 4;
  const roundSeconds = 2;
  const seconds = rounds * roundSeconds;
  const pairs = ctx.quick ? 50 : 300;
  const server = await startKilnServer({ model: TINY_MODEL.name, worker: false });
  const floor = await startKilnServer({ model: TINY_MODEL.name, probe: 'express-floor' });
  const queue = await bareQueue(server.redisUrl);
  let floor2xx = 0;
  let accepted2xx = 0;
  let failures = 0;
  const apiP50s: number[] = [];
  const apiP99s: number[] = [];
  const loop: number[] = [];
  const concurrent: number[] = [];
  // CPU time each server process spent in its turns (its own process only: not autocannon's or Redis's).
  const cpuMs = new Map<KilnServer, number>();
  const measuringCpu = async <T>(target: KilnServer, run: () => Promise<T>): Promise<T> => {
    const before = target.cpuMs() ?? NaN;
    const out = await run();
    cpuMs.set(target, (cpuMs.get(target) ?? 0) + (target.cpuMs() ?? NaN) - before);
    return out;
  };
  let paired: Awaited<ReturnType<typeof pairedLatencies>>;
  try {
    // Warm-up, so that the first round does not measure the JIT (with 1 s, round 1 ran ~25% slower than the others).
    await loadApi(server.url, 3);
    await loadApi(floor.url, 3);
    await queueAddLoop(queue, 1, CONNECTIONS);
    for (let round = 0; round < rounds; round++) {
      const apiTurn = async () => {
        const api = await measuringCpu(server, () => loadApi(server.url, roundSeconds));
        accepted2xx += api['2xx'];
        failures += api.non2xx + api.errors + api.timeouts;
        apiP50s.push(api.latency.p50);
        apiP99s.push(api.latency.p99);
      };
      const loopTurn = async () => {
        loop.push(...(await queueAddLoop(queue, roundSeconds, 1)));
        concurrent.push(...(await queueAddLoop(queue, roundSeconds, CONNECTIONS)));
        const minimal = await measuringCpu(floor, () => loadApi(floor.url, roundSeconds));
        floor2xx += minimal['2xx'];
        failures += minimal.non2xx + minimal.errors + minimal.timeouts;
      };
      if (round % 2 === 0) {
        await apiTurn();
        await loopTurn();
      } else {
        await loopTurn();
        await apiTurn();
      }
    }
    paired = await pairedLatencies(server.url, queue, pairs);
  } finally {
    await queue.close();
    await server.stop();
    await floor.stop();
  }
  const accepted = accepted2xx / seconds;
  const floorPerSecond = floor2xx / seconds;
  const floorRatio = floorPerSecond / (loop.length / seconds);
  const loopPerSecond = loop.length / seconds;
  const concurrentPerSecond = concurrent.length / seconds;
  const ratio = accepted / loopPerSecond;
  const concurrentRatio = accepted / concurrentPerSecond;
  const addedP50 = quantile(paired.added, 0.5);
  const apiP50 = median(apiP50s);
  const apiP99 = Math.max(...apiP99s);
  const apiCpuPerSubmission = (cpuMs.get(server) ?? NaN) / accepted2xx;
  const floorCpuPerSubmission = (cpuMs.get(floor) ?? NaN) / floor2xx;
  const why = (perSecond: number, what: string) =>
    `${fmt(1000 / accepted, 3)} ms per submission through HTTP, Express, validation and the API's bookkeeping ` +
    `(BullMQ's add script, the tenant's job index and the backlog in one MULTI, shared by the submissions of one event-loop turn) against ${fmt(1000 / perSecond, 3)} ms for ${what}` +
    `${failures ? `; ${failures} requests failed` : ''}; autocannon, the API process and Redis share 2 cores. ` +
    `A minimal Express app that only parses the body and calls queue.add takes ${fmt(1000 / floorPerSecond, 3)} ms (row 4e): ` +
    `Kiln's validation, authentication, limits, bookkeeping and access log are the other ${fmt(1000 / accepted - 1000 / floorPerSecond, 3)} ms. ` +
    `CPU of the server process alone: ${fmt(apiCpuPerSubmission, 3)} ms per submission for Kiln's API, ${fmt(floorCpuPerSubmission, 3)} ms for the minimal app` +
    (floorRatio < 0.5
      ? `; the minimal app itself reached only ${fmt(floorRatio, 2)} of the loop in this run, so no single Express process doing more than it could reach 0.5 here.`
      : '.');
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
        why: why(loopPerSecond, 'one bare queue.add in a loop'),
        basis: `autocannon, ${CONNECTIONS} connections against POST /generate/sd (X-OctoAI-Async) vs a plain \`await queue.add\` loop (one add at a time), same payload and job options, same Redis; ${rounds} rounds of ${roundSeconds} s each, taking turns`,
        command: reproduce('api'),
      },
      {
        id: '4b',
        what: `API: async submissions/s ÷ ${CONNECTIONS} concurrent queue.add loops`,
        value: fmt(concurrentRatio, 2),
        goal: '≥ 0.5',
        met: concurrentRatio >= 0.5 && failures === 0,
        shortfall: fmt(0.5 - concurrentRatio, 2),
        why: why(concurrentPerSecond, `${CONNECTIONS} pipelined queue.adds`),
        basis: `the stricter reading: as many adds in flight as autocannon has connections (ioredis pipelines them)`,
        command: reproduce('api'),
      },
      {
        id: '4c',
        what: 'API: async submission latency p99',
        value: `${apiP99} ms`,
        goal: '',
        basis: `same rounds (the worst round's p99); plain queue.add p99 ${fmt(quantile(loop, 0.99), 2)} ms`,
        command: reproduce('api'),
      },
      {
        id: '4d',
        what: 'API: added latency per async submission, p50',
        value: `${fmt(addedP50, 2)} ms`,
        goal: '≤ 10 ms',
        met: addedP50 <= 10,
        shortfall: `${fmt(addedP50 - 10, 2)} ms`,
        why: 'HTTP, Express, validation and the bookkeeping round trip of one submission on a shared 2-core machine.',
        basis: `${pairs} async POST /generate/sd one at a time, each minus a bare queue.add right after it (same payload, same Redis)`,
        command: reproduce('api'),
      },
      {
        id: '4e',
        what: 'minimal Express app (JSON body → queue.add) ÷ plain queue.add/s',
        value: fmt(floorRatio, 2),
        goal: '',
        basis: `the floor under 4a: the same autocannon load on an Express app in its own process that parses the body, calls queue.add with the same job options and answers 201 (no validation, keys, limits, bookkeeping or log; bench/src/probes/express-floor.probe.ts), same rounds; Kiln's API ÷ this: ${fmt(accepted / floorPerSecond, 2)}`,
        command: reproduce('api'),
      },
    ],
    lines: [
      `API (own process, no worker): ${fmt(accepted, 0)} accepted submissions/s, latency p50 ${apiP50} ms (median of the rounds), p99 ${apiP99} ms, ${failures} failed; ` +
        `plain queue.add loop: ${fmt(loopPerSecond, 0)} adds/s, p50 ${fmt(quantile(loop, 0.5), 2)} ms, p99 ${fmt(quantile(loop, 0.99), 2)} ms; ` +
        `${CONNECTIONS} concurrent loops: ${fmt(concurrentPerSecond, 0)} adds/s, p50 ${fmt(quantile(concurrent, 0.5), 2)} ms, p99 ${fmt(quantile(concurrent, 0.99), 2)} ms.`,
      `One submission at a time (${pairs} pairs): async POST p50 ${fmt(quantile(paired.api, 0.5), 2)} ms, bare queue.add p50 ${fmt(quantile(paired.bare, 0.5), 2)} ms, ` +
        `added p50 ${fmt(addedP50, 2)} ms, p99 ${fmt(quantile(paired.added, 0.99), 2)} ms.`,
      `Minimal Express app (JSON body → queue.add, row 4e): ${fmt(floorPerSecond, 0)} submissions/s.`,
      'The load generator and the queue.add loops run in the benchmark process; on a 2-core machine they share the CPU with the API process and Redis.',
    ],
  };
}
