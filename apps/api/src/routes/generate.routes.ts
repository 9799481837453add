/**
 * `POST /generate/sd` and `/generate/sd3`: validate → store input images → enqueue → either
 * answer 201 at once (`X-OctoAI-Async: 1`) or wait for the job and answer OctoAI's body.
 */
import { randomInt, randomUUID } from 'node:crypto';
import {
  KilnError,
  parseGenerateRequest,
  resolveSeeds,
  type ModelFamily,
} from '@kiln/contracts';
import { PRIORITY, decodeFailure, type RenderJobData } from '@kiln/queue';
import { inputKey } from '@kiln/storage';
import { Router, type Request, type Response } from 'express';
import { callerOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { checkBase64Image } from '../image-input.js';
import { createOnce } from '../idempotency.js';
import { admitJobs } from '../job-admission.js';
import { generationResponse, type RenderJob } from '../job-views.js';
import { baseUrlOf } from '../base-url.js';
import { assertWebhookTarget } from '../webhook-target.js';

const IMAGE_FIELDS = ['init_image', 'mask_image'] as const;

async function waitForJob(job: RenderJob, deps: ApiDeps) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), deps.config.syncTimeoutMs);
  });
  try {
    const outcome = await Promise.race([
      job.waitUntilFinished(deps.queueEvents).then(
        (result) => ({ ok: true as const, result }),
        (err: Error) => ({ ok: false as const, err }),
      ),
      timeout,
    ]);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A key in the `batch` lane (keys file) is served after every interactive request, sync or async;
 * interactive sync requests carry no priority, which BullMQ runs before all prioritized jobs.
 */
function laneFor(lane: 'interactive' | 'batch', isAsync: boolean): number | undefined {
  if (lane === 'batch') return PRIORITY.batch;
  return isAsync ? PRIORITY.async : PRIORITY.interactive;
}

export function generateRoutes(deps: ApiDeps): Router {
  const router = Router();
  const schemaOptions = { allowAnyResolution: deps.config.allowAnyResolution };

  const handle = (family: ModelFamily) => async (req: Request, res: Response) => {
    const parsed = parseGenerateRequest(family, req.body, schemaOptions);
    if (!parsed.success) {
      res.status(422).json(parsed.body);
      return;
    }
    const { family: _family, ...fields } = parsed.data;
    const request: Record<string, unknown> = fields;
    if (!(await deps.models.isAvailable(family))) {
      throw new KilnError('model_unavailable', `no ${family === 'sd3' ? 'SD3' : 'SD1.5'} model is configured on this server`, {
        retryAfterSeconds: 60,
      });
    }
    const caller = callerOf(res);
    await assertWebhookTarget(deps, caller, parsed.data.webhook_url);
    const isAsync = req.get('x-octoai-async') === '1';
    // Idempotency-Key: a repeated (or concurrent) identical request gets the first one's job.
    const { id: jobId } = await createOnce(deps, req, res, async () => {
      const jobId = randomUUID();
      const submittedAt = Date.now();
      await admitJobs(deps, caller, [{ jobId, createdAt: submittedAt }], async () => {
        const inputs: Record<string, string> = {};
        for (const field of IMAGE_FIELDS) {
          const value = request[field];
          if (typeof value !== 'string') continue;
          const image = checkBase64Image(field, value, deps.config.maxImagePixels);
          const key = inputKey(jobId, field);
          await deps.store.put(key, image.bytes);
          inputs[field] = key;
          request[field] = key; // jobs carry storage keys, never image bytes
        }
        const seeds = resolveSeeds(parsed.data.seed, parsed.data.num_images, () => randomInt(0, 2 ** 32));
        const data: RenderJobData = {
          family,
          tenant: caller.tenant,
          keyId: caller.keyId,
          request,
          seeds,
          inputs,
          submittedAt,
          baseUrl: baseUrlOf(req, deps.config),
          ...(parsed.data.custom_id !== undefined && { custom_id: parsed.data.custom_id }),
        };
        await deps.queue.add(family, data, {
          jobId,
          priority: laneFor(caller.lane, isAsync),
        });
      });
      return jobId;
    });
    const job = (await deps.queue.getJob(jobId)) as RenderJob | undefined;
    if (!job) throw new KilnError('not_found', `job ${jobId} of this Idempotency-Key no longer exists (result retention)`, { jobId });

    const baseUrl = baseUrlOf(req, deps.config);
    if (isAsync) {
      res.status(201).json({ response_id: jobId, poll_url: `${baseUrl}/v1/requests/${jobId}` });
      return;
    }
    const outcome = await waitForJob(job, deps);
    if (outcome === 'timeout') {
      throw new KilnError('timeout', `the job did not finish within ${deps.config.syncTimeoutMs} ms; it goes on: poll /v1/requests/${jobId}`, {
        jobId,
      });
    }
    if (!outcome.ok) {
      const failure = decodeFailure(outcome.err.message);
      const code = failure.code === 'internal_error' || !isKnown(failure.code) ? 'internal_error' : failure.code;
      throw new KilnError(code as never, failure.message, { jobId, ...(failure.field && { field: failure.field }) });
    }
    res.status(200).json(await generationResponse(jobId, outcome.result, deps.store));
  };

  router.post('/generate/sd', handle('sd15'));
  router.post('/generate/sd3', handle('sd3'));
  return router;
}

const KNOWN_JOB_CODES = new Set(['input_rejected', 'invalid_image', 'invalid_request', 'model_unavailable', 'canceled']);
const isKnown = (code: string) => KNOWN_JOB_CODES.has(code);
