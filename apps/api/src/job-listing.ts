/**
 * `GET /v1/jobs`: the caller's jobs, newest first, from the tenant's job index (or a batch's),
 * filtered by status. Pages end at `limit` jobs or after scanning `MAX_SCAN` index entries
 * (a rare status among many jobs); either way `next_cursor` continues where the page stopped,
 * and is null only when the listing is complete.
 */
import type { JobStatus } from '@kiln/contracts';
import { decodeCursor, encodeCursor, indexedJobIds, stateKeys, unindexJobs, type JobCursor } from '@kiln/state';
import type { Caller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { jobDocument, viewOf, type JobView, type RenderJob } from './job-views.js';

/** Index entries one page may look at before it answers short. */
export const MAX_SCAN = 2000;
const CHUNK = 50;

export interface JobListQuery {
  statuses?: readonly JobStatus[];
  batchId?: string;
  limit: number;
  cursor?: string;
}

export async function listJobs(deps: ApiDeps, caller: Caller, query: JobListQuery, baseUrl: string) {
  const keys = stateKeys(deps.config.queuePrefix);
  const indexKey = query.batchId ? keys.batchJobs(caller.tenant, query.batchId) : keys.tenantJobs(caller.tenant);
  const after: JobCursor | undefined = query.cursor ? decodeCursor(query.cursor) : undefined;
  const wanted = query.statuses?.length ? new Set(query.statuses) : undefined;

  // With a status filter, a job's view is read to filter it; without, only for the page's jobs.
  const page: { job: RenderJob; view?: JobView; entry: JobCursor }[] = [];
  const gone: string[] = [];
  let scanned = 0;
  let lastScanned: JobCursor | undefined;
  let exhausted = true;
  let chunk: JobCursor[] = [];

  const takeChunk = async (): Promise<boolean> => {
    const jobs = await Promise.all(
      chunk.map((entry) => deps.queue.getJob(entry.jobId) as Promise<RenderJob | undefined>),
    );
    const views = await Promise.all(jobs.map((job) => (job && wanted ? viewOf(deps.queue, job) : undefined)));
    for (const [i, entry] of chunk.entries()) {
      const job = jobs[i];
      if (!job) {
        gone.push(entry.jobId);
        continue;
      }
      if (job.data.tenant !== caller.tenant) continue;
      if (query.batchId && job.data.batchId !== query.batchId) continue;
      const view = views[i];
      if (wanted && !wanted.has(view?.status as JobStatus)) continue;
      page.push({ job, view, entry });
      if (page.length === query.limit) return true;
    }
    chunk = [];
    return false;
  };

  for await (const entry of indexedJobIds(deps.redis, indexKey, after, CHUNK * 2)) {
    chunk.push(entry);
    scanned++;
    lastScanned = entry;
    if (chunk.length === CHUNK && (await takeChunk())) {
      exhausted = false;
      break;
    }
    if (scanned >= MAX_SCAN) {
      exhausted = false;
      break;
    }
  }
  if (exhausted || page.length < query.limit) {
    if (chunk.length && (await takeChunk())) exhausted = false;
  }
  if (gone.length) await unindexJobs(deps.redis, indexKey, gone);

  const full = page.length === query.limit;
  // A job removed (result retention) since it was listed drops out of the page.
  const views = await Promise.all(page.map(({ job, view }) => view ?? viewOf(deps.queue, job)));
  const resumeAt = full ? page.at(-1)?.entry : exhausted ? undefined : lastScanned;
  return {
    jobs: await Promise.all(
      views.filter((view) => view !== undefined).map((view) => jobDocument(view, deps.redis, deps.queue, baseUrl)),
    ),
    next_cursor: resumeAt ? encodeCursor(resumeAt) : null,
  };
}
