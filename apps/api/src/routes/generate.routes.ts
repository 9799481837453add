/**
 * `POST /generate/sd` and `/generate/sd3`: intake (validate → store input images → the job) → enqueue → either
 * answer 201 at once (`X-OctoAI-Async: 1`) or wait for the job and answer OctoAI's body. A sync request
 * that repeats an identical one whose job is still open waits for that job instead (retry-dedupe.ts).
 */
import { randomUUID } from 'node:crypto';
import { KilnError, decodeFailure, type ModelFamily } from '@kiln/contracts';
import { PRIORITY } from '@kiln/queue';
import { Router, type Request, type Response } from 'express';
import { callerOf } from '../auth.js';
import { baseUrlOf } from '../base-url.js';
import type { ApiDeps } from '../deps.js';
import { createOnce } from '../idempotency.js';
import { Intake } from '../intake.js';
import { createOrAttach, dedupes } from '../retry-dedupe.js';
import { admitJobs } from '../job-admission.js';
import { generationResponse, type RenderJob } from '../job-views.js';

type Outcome = { ok: true; result: RenderJob['returnvalue'] } | { ok: false; err: Error };

/**
 * One wait per job and API process, shared by every request that waits for it (an original and
 * its attached retries), so twenty of them add one listener to the queue's events, not twenty.
 */
function finished(job: RenderJob, deps: ApiDeps, waits: Map<string, Promise<Outcome>>): Promise<Outcome> {
  const id = job.id as string;
  let wait = waits.get(id);
  if (!wait) {
    wait = job
      .waitUntilFinished(deps.queueEvents)
      .then(
        (result: RenderJob['returnvalue']): Outcome => ({ ok: true, result }),
        (err: Error): Outcome => ({ ok: false, err }),
      )
      .finally(() => waits.delete(id));
    waits.set(id, wait);
  }
  return wait;
}

async function waitForJob(job: RenderJob, deps: ApiDeps, waits: Map<string, Promise<Outcome>>) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), deps.config.syncTimeoutMs);
  });
  try {
    return await Promise.race([finished(job, deps, waits), timeout]);
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
  const waits = new Map<string, Promise<Outcome>>();

  const handle = (family: ModelFamily) => async (req: Request, res: Response) => {
    const caller = callerOf(res);
    const intake = new Intake(deps, caller);
    const request = await intake.validate(family, req.body);
    const isAsync = req.get('x-octoai-async') === '1';
    const baseUrl = baseUrlOf(req, deps.config);
    const create = async () => {
      const jobId = randomUUID();
      await admitJobs(deps, caller, [{ jobId, createdAt: Date.now() }], async () => [
        {
          name: family,
          data: await intake.toJob(request, { jobId, baseUrl }),
          opts: { jobId, priority: laneFor(caller.lane, isAsync) },
        },
      ]);
      return jobId;
    };
    // A retried sync request attaches to the open job of the identical one before it
    // (retry-dedupe.ts); with an Idempotency-Key, a repeated request gets the first one's job.
    let jobId: string;
    let replayed: boolean | undefined;
    let release = async (): Promise<void> => undefined;
    if (dedupes(req, isAsync)) ({ id: jobId, release } = await createOrAttach(deps, req, res, caller, request, create));
    else ({ id: jobId, replayed } = await createOnce(deps, req, res, create));
    const accepted = () => res.status(201).json({ response_id: jobId, poll_url: `${baseUrl}/v1/requests/${jobId}` });
    // An async request that has just created its job answers at once: admission added the job and
    // its bookkeeping in one transaction. Every other answer needs the job; a replayed one may be gone.
    if (isAsync && replayed === false) return void accepted();
    const job = (await deps.queue.getJob(jobId)) as RenderJob | undefined;
    if (!job) {
      const message = `job ${jobId} of this Idempotency-Key no longer exists (result retention)`;
      throw new KilnError('not_found', message, { jobId });
    }
    if (isAsync) return void accepted();
    const outcome = await waitForJob(job, deps, waits);
    if (outcome === 'timeout') {
      const waited = deps.config.syncTimeoutMs;
      const message = `the job did not finish within ${waited} ms; it goes on: poll /v1/requests/${jobId}`;
      throw new KilnError('timeout', message, { jobId });
    }
    await release(); // the job has ended: the next identical request renders anew
    if (!outcome.ok) {
      const failure = decodeFailure(outcome.err.message);
      throw new KilnError(failure.code, failure.message, { jobId, ...(failure.field && { field: failure.field }) });
    }
    res.status(200).json(await generationResponse(jobId, outcome.result, deps.store));
  };

  router.post('/generate/sd', handle('sd15'));
  router.post('/generate/sd3', handle('sd3'));
  return router;
}
