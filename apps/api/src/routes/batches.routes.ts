/**
 * Batches (docs/batches.md): `POST /v1/batches` (JSON or JSONL, streamed), `GET /v1/batches`,
 * `GET /v1/batches/{id}`, `GET /v1/batches/{id}/results` (JSONL), `POST /v1/batches/{id}/cancel`,
 * `GET /v1/batches/{id}/webhooks`. A batch of another tenant answers 404 like a missing one.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflate } from 'node:zlib';
import { BATCH_JSONL_TYPES, KilnError } from '@kiln/contracts';
import type { BatchRecord } from '@kiln/state';
import { groupDeliveries, readAttempts } from '@kiln/webhooks';
import { Router, type Request, type Response } from 'express';
import { callerOf } from '../auth.js';
import { baseUrlOf } from '../base-url.js';
import { cancelBatchItems, submitBatch, type BatchUpload } from '../batch-submission.js';
import { batchDocument, resultLine } from '../batch-views.js';
import type { ApiDeps } from '../deps.js';
import { createOnce } from '../idempotency.js';
import { wantsImageUrls } from '../image-urls.js';

const RESULTS_CHUNK = 1000;

/** `POST /v1/batches`: its body is streamed by the route, never by the app's JSON parser. */
export const isBatchUpload = (req: Request): boolean => req.method === 'POST' && req.path === '/v1/batches';

/** The upload's format from its Content-Type: JSONL or the JSON envelope. */
function uploadFormat(req: Request): 'jsonl' | 'json' {
  if (req.is([...BATCH_JSONL_TYPES])) return 'jsonl';
  if (req.is(['application/json', 'application/*+json'])) return 'json';
  throw new KilnError(
    'unsupported_media_type',
    `send the batch as JSONL (Content-Type: ${BATCH_JSONL_TYPES[0]}) or as JSON {"requests": [...]} (Content-Type: application/json)`,
  );
}

/** The body as it streams: decompressed, and cut at the batch body limit (413). */
async function* limitedBody(req: Request, maxBytes: number): AsyncGenerator<Buffer> {
  const declared = Number(req.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new KilnError('payload_too_large', `the batch body is over ${maxBytes} bytes (KILN_BATCH_MAX_BODY_BYTES)`);
  }
  const encoding = (req.get('content-encoding') ?? 'identity').toLowerCase();
  let source: Readable = req;
  if (encoding === 'gzip' || encoding === 'x-gzip') source = req.pipe(createGunzip());
  else if (encoding === 'deflate') source = req.pipe(createInflate());
  else if (encoding !== 'identity')
    throw new KilnError('unsupported_media_type', `Content-Encoding ${encoding} is not supported (gzip, deflate)`);
  let seen = 0;
  try {
    for await (const chunk of source) {
      seen += (chunk as Buffer).length;
      if (seen > maxBytes)
        throw new KilnError(
          'payload_too_large',
          `the batch body is over ${maxBytes} bytes (KILN_BATCH_MAX_BODY_BYTES)`,
        );
      yield chunk as Buffer;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'Z_DATA_ERROR')
      throw new KilnError('invalid_request', `the ${encoding} body cannot be decompressed`);
    throw err;
  }
}

/** Batch webhook options given as query parameters (the JSONL form has no envelope for them). */
function queryWebhook(req: Request): BatchUpload['query'] {
  const url = req.query.webhook_url;
  const events = req.query.webhook_events;
  return {
    ...(typeof url === 'string' && { webhook_url: url }),
    ...(typeof events === 'string' && {
      webhook_events: events
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean),
    }),
  };
}

export function batchesRoutes(deps: ApiDeps): Router {
  const router = Router();
  const { batches } = deps.jobs;

  async function ownBatch(id: string, res: Response): Promise<BatchRecord> {
    const batch = await batches.get(id);
    if (!batch || batch.tenant !== callerOf(res).tenant) throw new KilnError('not_found', `no batch ${id}`);
    return batch;
  }

  async function document(batch: BatchRecord, req: Request) {
    const running = (await batches.activeJobs(batch.id)).size;
    return batchDocument(batch, running, baseUrlOf(req, deps.config));
  }

  router.post('/v1/batches', async (req, res) => {
    const caller = callerOf(res);
    const format = uploadFormat(req);
    const query = queryWebhook(req);
    const baseUrl = baseUrlOf(req, deps.config);
    const body = limitedBody(req, deps.config.batchMaxBodyBytes);
    let errors: Awaited<ReturnType<typeof submitBatch>>['errors'] | undefined;
    let batchId: string;
    if (req.get('idempotency-key') === undefined) {
      ({ batchId, errors } = await submitBatch(deps, caller, { source: body, format, query, baseUrl }));
    } else {
      // The key is bound to the whole body: spool it to disk (hashing it) before anything is created.
      const dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-batch-'));
      try {
        const file = path.join(dir, 'body');
        const hash = createHash('sha256');
        await pipeline(
          body,
          async function* (source: AsyncIterable<Buffer>) {
            for await (const chunk of source) {
              hash.update(chunk);
              yield chunk;
            }
          },
          createWriteStream(file),
        );
        const fingerprint = { format, query, sha256: hash.digest('hex') };
        ({ id: batchId } = await createOnce(
          deps,
          req,
          res,
          async () => {
            const submitted = await submitBatch(deps, caller, {
              source: createReadStream(file),
              format,
              query,
              baseUrl,
            });
            errors = submitted.errors;
            return submitted.batchId;
          },
          fingerprint,
        ));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    const batch = await ownBatch(batchId, res);
    res.status(201).json({ ...(await document(batch, req)), ...(errors && { errors }) });
  });

  router.get('/v1/batches', async (req, res) => {
    const limit = Math.min(100, Math.max(1, Number(req.query.limit) || 20));
    const ids = await batches.list(callerOf(res).tenant, limit);
    const found = (await Promise.all(ids.map((id) => batches.get(id)))).filter(
      (b): b is BatchRecord => b !== undefined,
    );
    res.json({ batches: await Promise.all(found.map((b) => document(b, req))) });
  });

  router.get('/v1/batches/:id', async (req, res) => {
    res.json(await document(await ownBatch(req.params.id, res), req));
  });

  router.get('/v1/batches/:id/results', async (req, res) => {
    const batch = await ownBatch(req.params.id, res);
    const order = req.query.order === 'finished' ? 'finished' : 'input';
    const offset = Math.max(0, Number(req.query.offset) || 0);
    const baseUrl = baseUrlOf(req, deps.config);
    // ownBatch checked the caller: storage URLs go to the batch's owner only.
    const urls = wantsImageUrls(req.query)
      ? { store: deps.store, ttlSeconds: deps.config.imageUrlTtlSeconds }
      : undefined;
    const running = await batches.activeJobs(batch.id);
    res.status(200).type('application/x-ndjson');
    const write = async (line: unknown) => {
      if (!res.write(`${JSON.stringify(line)}\n`)) await once(res, 'drain');
    };
    for (let start = offset; ; start += RESULTS_CHUNK) {
      if (order === 'input') {
        const entries = await batches.items(batch.id, start, RESULTS_CHUNK);
        if (entries.length === 0) break;
        const jobIds = entries.filter((e) => e.job_id).map((e) => e.job_id as string);
        const outcomes = new Map(jobIds.map((id, k) => [id, k]));
        const found = await batches.outcomes(batch.id, jobIds);
        for (const entry of entries) {
          const k = entry.job_id ? outcomes.get(entry.job_id) : undefined;
          await write(
            await resultLine(
              entry,
              k === undefined ? undefined : found[k],
              entry.job_id ? running.has(entry.job_id) : false,
              baseUrl,
              urls,
            ),
          );
        }
        if (entries.length < RESULTS_CHUNK) break;
      } else {
        const jobIds = await batches.finished(batch.id, start, RESULTS_CHUNK);
        if (jobIds.length === 0) break;
        const [entries, found] = await Promise.all([
          batches.itemsOf(batch.id, jobIds),
          batches.outcomes(batch.id, jobIds),
        ]);
        for (let k = 0; k < jobIds.length; k++) {
          const entry = entries[k];
          if (entry) await write(await resultLine(entry, found[k], false, baseUrl, urls));
        }
        if (jobIds.length < RESULTS_CHUNK) break;
      }
    }
    res.end();
  });

  router.post('/v1/batches/:id/cancel', async (req, res) => {
    const batch = await ownBatch(req.params.id, res);
    const state = await batches.requestCancel(batch.id);
    if (state === 'completed' || state === 'canceled') {
      throw new KilnError('conflict', `batch ${batch.id} has already ended (${state}); there is nothing to cancel`);
    }
    if (state.startsWith('finished:')) await deps.jobs.lifecycle.afterItemEnd(batch.id, state);
    // An upload still being enqueued cancels its items itself when it is done (it sees `canceling`).
    if ((await batches.get(batch.id))?.enqueued) await cancelBatchItems(deps, batch.id);
    res.json(await document((await batches.get(batch.id)) ?? batch, req));
  });

  router.get('/v1/batches/:id/webhooks', async (req, res) => {
    const batch = await ownBatch(req.params.id, res);
    const attempts = await readAttempts(deps.redis, deps.config.queuePrefix, { kind: 'batch', id: batch.id });
    res.json({ id: batch.id, deliveries: groupDeliveries(attempts) });
  });

  return router;
}
