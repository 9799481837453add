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
import { jobDocument, statusOf, type RenderJob } from './job-views.js';

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

  const page: { job: RenderJob; entry: JobCursor }[] = [];
  const gone: string[] = [];
  let scanned = 0;
  let lastScanned: JobCursor | undefined;
  let exhausted = true;
  let chunk: JobCursor[] = [];

  const takeChunk = async (): Promise<boolean> => {
    const jobs = await Promise.all(
      chunk.map((entry) => deps.queue.getJob(entry.jobId) as Promise<RenderJob | undefined>),
    );
    const statuses = await Promise.all(jobs.map((job) => (job && wanted ? statusOf(job) : undefined)));
    for (const [i, entry] of chunk.entries()) {
      const job = jobs[i];
      if (!job) {
        gone.push(entry.jobId);
        continue;
      }
      if (job.data.tenant !== caller.tenant) continue;
      if (query.batchId && job.data.batchId !== query.batchId) continue;
      if (wanted && !wanted.has(statuses[i] as JobStatus)) continue;
      page.push({ job, entry });
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
  const resumeAt = full ? page.at(-1)?.entry : exhausted ? undefined : lastScanned;
  return {
    jobs: await Promise.all(page.map(({ job }) => jobDocument(job, deps.redis, deps.queue, baseUrl))),
    next_cursor: resumeAt ? encodeCursor(resumeAt) : null,
  };
}
