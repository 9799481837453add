import { describe, expect, it } from 'vitest';
import { asyncAcceptedSchema, imageGenerationResponseSchema, requestStatusSchema } from './generate-response.schema.js';
import { healthSchema, readinessSchema } from './health.schema.js';
import { jobSchema, type Job } from './jobs.schema.js';

describe('imageGenerationResponseSchema', () => {
  const example = {
    images: [{ image_b64: 'AAAA', removed_for_safety: false, seed: 2748252853, safety_score: null }],
    prediction_time_ms: 1234.5,
    id: 'job_1',
  };

  it('accepts the docs/generate.md example and a removed image that keeps its seed', () => {
    expect(imageGenerationResponseSchema.parse(example)).toEqual(example);
    const removed = {
      ...example,
      images: [{ image_b64: null, removed_for_safety: true, seed: 7, safety_score: 0.93 }],
    };
    expect(imageGenerationResponseSchema.safeParse(removed).success).toBe(true);
  });

  it.each([
    ['no id', { ...example, id: undefined }],
    ['a seed of 2^32', { ...example, images: [{ ...example.images[0], seed: 2 ** 32 }] }],
    ['a missing safety_score', { ...example, images: [{ image_b64: 'A', removed_for_safety: false, seed: 1 }] }],
    ['a negative time', { ...example, prediction_time_ms: -1 }],
  ])('rejects %s', (_, body) => {
    expect(imageGenerationResponseSchema.safeParse(body).success).toBe(false);
  });
});

describe('async shapes', () => {
  it('201 body', () => {
    expect(asyncAcceptedSchema.safeParse({ response_id: 'j', poll_url: 'http://h/v1/requests/j' }).success).toBe(true);
    expect(asyncAcceptedSchema.safeParse({ response_id: 'j' }).success).toBe(false);
  });

  it.each(['pending', 'running', 'completed', 'failed', 'canceled'])('request status %s', (status) => {
    expect(requestStatusSchema.safeParse({ status }).success).toBe(true);
  });

  it('request status with response_url or error; rejects job-only states', () => {
    expect(
      requestStatusSchema.safeParse({ status: 'completed', response_url: 'http://h/v1/responses/j' }).success,
    ).toBe(true);
    expect(
      requestStatusSchema.safeParse({ status: 'failed', error: { code: 'input_rejected', message: 'clip_skip' } })
        .success,
    ).toBe(true);
    expect(requestStatusSchema.safeParse({ status: 'queued' }).success).toBe(false);
  });
});

describe('jobSchema', () => {
  const queued: Job = {
    id: 'j1',
    status: 'queued',
    family: 'sd15',
    custom_id: null,
    batch_id: null,
    attempts_made: 0,
    cancel_requested: false,
    progress: { step: 0, total_steps: 30, images_done: 0, num_images: 2, stage: null },
    queue_position: 3,
    created_at: '2025-01-02T03:04:05.678Z',
    started_at: null,
    finished_at: null,
    error: null,
    images: [],
    seeds: [1, 2],
    prediction_time_ms: null,
  };
  const completed: Job = {
    ...queued,
    status: 'completed',
    progress: { step: 30, total_steps: 30, images_done: 2, num_images: 2, stage: null },
    queue_position: null,
    started_at: '2025-01-02T03:04:06.000Z',
    finished_at: '2025-01-02T03:04:09+00:00',
    images: [
      {
        index: 0,
        seed: 1,
        url: 'http://h/v1/jobs/j1/images/0',
        content_type: 'image/jpeg',
        removed_for_safety: false,
        safety_score: null,
      },
      { index: 1, seed: 2, url: null, content_type: 'image/jpeg', removed_for_safety: true, safety_score: 0.9 },
    ],
    prediction_time_ms: 2950,
  };

  it('accepts a queued and a completed job', () => {
    expect(jobSchema.parse(queued)).toEqual(queued);
    expect(jobSchema.parse(completed)).toEqual(completed);
  });

  it('accepts a failed job with its error', () => {
    const failed = {
      ...queued,
      status: 'failed',
      queue_position: null,
      error: { code: 'input_rejected', message: 'LoRA does not fit' },
    };
    expect(jobSchema.safeParse(failed).success).toBe(true);
  });

  it.each([
    ['the OctoAI status pending', { status: 'pending' }],
    ['a non-ISO timestamp', { created_at: 'yesterday' }],
    ['an unknown family', { family: 'sdxl' }],
    ['an unknown error code', { error: { code: 'boom', message: 'x' } }],
    ['a negative queue position', { queue_position: -1 }],
    ['a missing progress', { progress: undefined }],
  ])('rejects %s', (_, patch) => {
    expect(jobSchema.safeParse({ ...queued, ...patch }).success).toBe(false);
  });

  it('shows what a running job is doing: loading an asset set, then denoising', () => {
    for (const stage of ['loading_assets', 'denoising'] as const) {
      expect(
        jobSchema.safeParse({ ...queued, status: 'running', progress: { ...queued.progress, stage } }).success,
      ).toBe(true);
    }
    expect(jobSchema.safeParse({ ...queued, progress: { ...queued.progress, stage: 'napping' } }).success).toBe(false);
  });
});

describe('health shapes', () => {
  it('healthz and readyz', () => {
    expect(healthSchema.safeParse({ status: 'ok' }).success).toBe(true);
    expect(
      readinessSchema.safeParse({
        status: 'not_ready',
        checks: { redis: { ok: true }, worker: { ok: false, detail: 'none seen' } },
      }).success,
    ).toBe(true);
    expect(readinessSchema.safeParse({ status: 'ok', checks: {} }).success).toBe(false);
  });
});
