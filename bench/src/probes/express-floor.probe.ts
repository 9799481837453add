/**
 * The floor under item 4: the least an Express API must do per async submission, in a process of
 * its own like Kiln's API: parse the JSON body, `queue.add` it with the API's job options, answer
 * 201 with the job's id. No validation, authentication, limits, bookkeeping or access log. What
 * Kiln's API reaches against this (row 4e) is the cost of those; what this reaches against a bare
 * `queue.add` loop is the cost of HTTP and Express on this machine, which no API can avoid.
 * Prints `KILN_BENCH_READY {"url": …}` when ready; SIGTERM stops it.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '@kiln/config';
import type { RenderJobData } from '@kiln/contracts';
import { PRIORITY, createRedis, createRenderQueue } from '@kiln/queue';
import express from 'express';

const config = loadConfig();
const connection = createRedis(config.redisUrl);
const queue = createRenderQueue(connection, {
  prefix: config.queuePrefix,
  attempts: config.jobAttempts,
  retentionMs: config.resultTtlMs,
});
await queue.waitUntilReady();

const app = express();
app.use(express.json());
app.post('/generate/sd', async (req, res) => {
  const jobId = randomUUID();
  const data = { ...req.body, seeds: [0], inputs: {}, tenant: 'local', submittedAt: Date.now() } as RenderJobData;
  await queue.add('sd15', data, { jobId, priority: PRIORITY.async });
  res.status(201).json({ response_id: jobId });
});
const server = app.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`KILN_BENCH_READY ${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
});

process.once('SIGTERM', async () => {
  server.close();
  await queue.close();
  connection.disconnect();
  process.exit(0);
});
