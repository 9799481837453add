/**
 * A job's view on a real Redis: a record read while the job ran, whose attempt ended before its
 * status was read, is read again, so the document shows the outcome and the attempt count of the
 * same moment (CI once showed `failed` with the attempts of the running record).
 */
import { randomBytes } from 'node:crypto';
import { redisKeyPrefix } from '@kiln/config';
import { createRedis, createRenderQueue, deleteKeysMatching, RENDER_QUEUE, type RenderJob } from '@kiln/queue';
import { Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { sd15Job } from '../../../test/job-fixtures.js';
import { jobDocument, loadView, viewOf } from './job-views.js';

const prefix = redisKeyPrefix(`kiln-test-${randomBytes(4).toString('hex')}`, process.env.REDIS_URL);
const redis = createRedis(process.env.REDIS_URL);
const queue = createRenderQueue(redis, { prefix, attempts: 1, retentionMs: 3600_000 });
const worker = new Worker(RENDER_QUEUE, null, { connection: createRedis(process.env.REDIS_URL), prefix });

afterAll(async () => {
  await worker.close();
  await queue.close();
  await deleteKeysMatching(redis, `${prefix}:*`);
  redis.disconnect();
});

describe('viewOf', () => {
  it('reads a job again when it ended between its record and its status', async () => {
    const added = await queue.add('sd15', sd15Job());
    const taken = (await worker.getNextJob('token')) as RenderJob;
    expect(taken.id).toBe(added.id);
    const whileRunning = (await queue.getJob(added.id as string)) as RenderJob;
    expect(whileRunning.attemptsMade).toBe(0);

    await taken.moveToFailed(new Error('the results folder is a file'), 'token');

    const view = await viewOf(queue, whileRunning);
    expect(view?.status).toBe('failed');
    expect(view?.job.attemptsMade).toBe(1);
    const document = await jobDocument(view!, redis, queue, 'http://127.0.0.1');
    expect(document).toMatchObject({ status: 'failed', attempts_made: 1 });
    expect(document.finished_at).not.toBeNull();
    expect(document.error?.message).toContain('the results folder is a file');
  });

  it('reads a job again when it started between its record and its status', async () => {
    const added = await queue.add('sd15', sd15Job());
    const whileWaiting = (await queue.getJob(added.id as string)) as RenderJob;
    expect(whileWaiting.processedOn).toBeUndefined();
    await worker.getNextJob('token-started');

    const view = await viewOf(queue, whileWaiting);
    expect(view?.status).toBe('running');
    expect((await jobDocument(view!, redis, queue, 'http://127.0.0.1')).started_at).not.toBeNull();
  });

  it('keeps a running job as it was read', async () => {
    const added = await queue.add('sd15', sd15Job());
    await worker.getNextJob('token-2');
    const running = (await queue.getJob(added.id as string)) as RenderJob;
    const view = await viewOf(queue, running);
    expect(view).toEqual({ job: running, status: 'running' });
    expect((await jobDocument(view!, redis, queue, 'http://127.0.0.1')).status).toBe('running');
  });

  it('has no view of a job removed since its record was read, nor of an id never used', async () => {
    const added = await queue.add('sd15', sd15Job());
    const record = (await queue.getJob(added.id as string)) as RenderJob;
    await added.remove();
    expect(await viewOf(queue, record)).toBeUndefined();
    expect(await loadView(queue, added.id as string)).toBeUndefined();
    expect(await loadView(queue, 'no-such-job')).toBeUndefined();
  });
});
