/**
 * Job lookups: OctoAI's `/v1/requests/{id}` and `/v1/responses/{id}`, and Kiln's `/v1/jobs/{id}`
 * and its images. A job of another tenant answers 404, exactly like a job that does not exist.
 */
import { KilnError, decodeFailure } from '@kiln/contracts';
import { pipeline } from 'node:stream/promises';
import { Router, type Response } from 'express';
import { callerOf } from '../auth.js';
import { baseUrlOf } from '../base-url.js';
import type { ApiDeps } from '../deps.js';
import { wantsImageUrls } from '../image-urls.js';
import { OCTOAI_STATUS, generationResponse, jobDocument, ownView, type JobView } from '../job-views.js';

export function jobsRoutes(deps: ApiDeps): Router {
  const router = Router();

  const settled = (id: string, res: Response): Promise<JobView> => ownView(deps.queue, id, callerOf(res).tenant);

  router.get('/v1/requests/:id', async (req, res) => {
    const { job, status } = await settled(req.params.id, res);
    const body: Record<string, unknown> = { status: OCTOAI_STATUS[status] };
    if (status === 'completed') body.response_url = `${baseUrlOf(req, deps.config)}/v1/responses/${job.id}`;
    if (status === 'failed' || status === 'canceled') {
      const { code, message } = decodeFailure(job.failedReason);
      body.error = { code, message };
    }
    res.json(body);
  });

  router.get('/v1/responses/:id', async (req, res) => {
    const { job, status } = await settled(req.params.id, res);
    if (status === 'failed' || status === 'canceled') {
      // The job's own error, with its status, as the synchronous call would have answered it: 422
      // (with `detail`) for an input it refused, 500 for a failure inside Kiln, 409 when canceled.
      const failure = decodeFailure(job.failedReason);
      const code = status === 'canceled' ? 'canceled' : failure.code;
      throw new KilnError(code, failure.message, { jobId: job.id, ...(failure.field && { field: failure.field }) });
    }
    if (status !== 'completed') {
      throw new KilnError('not_ready', `the job is ${status}; poll /v1/requests/${job.id}`, { jobId: job.id });
    }
    res.json(await generationResponse(job.id as string, job.returnvalue, deps.store));
  });

  router.get('/v1/jobs/:id', async (req, res) => {
    const urls = wantsImageUrls(req.query)
      ? { store: deps.store, ttlSeconds: deps.config.imageUrlTtlSeconds }
      : undefined;
    // settled() answers 404 for another tenant's job before any URL is signed.
    const view = await settled(req.params.id, res);
    res.json(await jobDocument(view, deps.redis, deps.queue, baseUrlOf(req, deps.config), urls));
  });

  router.get('/v1/jobs/:id/images/:index', async (req, res) => {
    const { job, status } = await settled(req.params.id, res);
    const index = Number(req.params.index);
    const image = status === 'completed' ? job.returnvalue.images[index] : undefined;
    // Streamed from either store, never read whole into memory.
    const source = image?.key ? await deps.store.openRead(image.key) : undefined;
    if (!image || !source) throw new KilnError('not_found', `job ${job.id} has no image ${req.params.index}`);
    res.type(image.contentType).set('Cache-Control', 'private, max-age=31536000, immutable');
    await pipeline(source, res).catch((err: Error) => {
      // Headers are sent: a storage failure mid-stream can only cut the response short.
      deps.logger.warn({ jobId: job.id, err: err.message }, 'image stream ended early');
      res.destroy();
    });
  });

  return router;
}
