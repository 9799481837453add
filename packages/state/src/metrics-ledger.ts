/**
 * Cross-process counters and histograms for `GET /metrics` (docs/api.md). Workers have no HTTP
 * server and there may be many of them, so they add what they measure to Redis when an attempt
 * ends, and whichever API process is scraped reads the totals: one view of the whole fleet.
 * Bucket counts are stored per bucket (not cumulative) and summed at read time.
 */
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';

/** Upper bounds (seconds) of the job duration histogram. */
export const JOB_DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800] as const;
/** Upper bounds (seconds) of the denoising step duration histogram. */
export const STEP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Recent job durations kept for the backlog estimate. */
const RECENT_JOBS = 100;

const metricsKey = (prefix: string, name: string) => stateKeys(prefix).metrics(name);

export interface AttemptMetrics {
  family: string;
  outcome: 'completed' | 'failed' | 'canceled';
  /** Wall time of the attempt. */
  durationMs: number;
  /** Durations of the denoising steps observed. */
  stepDurationsMs: readonly number[];
  /** Images generated (completed attempts). */
  images: number;
}

function bucketIndex(bounds: readonly number[], seconds: number): number {
  const i = bounds.findIndex((le) => seconds <= le);
  return i === -1 ? bounds.length : i;
}

/** Adds one ended attempt to the fleet's metrics (one MULTI). */
export async function recordAttemptMetrics(redis: RedisClient, prefix: string, m: AttemptMetrics): Promise<void> {
  const seconds = m.durationMs / 1000;
  const multi = redis.multi();
  multi.hincrby(metricsKey(prefix, 'attempts'), m.outcome, 1);
  const jobs = metricsKey(prefix, 'job-seconds');
  multi.hincrby(jobs, `b${bucketIndex(JOB_DURATION_BUCKETS, seconds)}`, 1);
  multi.hincrby(jobs, 'count', 1);
  multi.hincrbyfloat(jobs, 'sum', seconds.toFixed(6));
  if (m.stepDurationsMs.length) {
    const steps = metricsKey(prefix, 'step-seconds');
    const counts = new Map<number, number>();
    let sum = 0;
    for (const ms of m.stepDurationsMs) {
      const index = bucketIndex(STEP_DURATION_BUCKETS, ms / 1000);
      counts.set(index, (counts.get(index) ?? 0) + 1);
      sum += ms / 1000;
    }
    for (const [index, n] of counts) multi.hincrby(steps, `b${index}`, n);
    multi.hincrby(steps, 'count', m.stepDurationsMs.length);
    multi.hincrbyfloat(steps, 'sum', sum.toFixed(6));
  }
  if (m.images) multi.hincrby(metricsKey(prefix, 'images'), m.family, m.images);
  multi.hincrbyfloat(metricsKey(prefix, 'busy'), 'seconds', seconds.toFixed(6));
  if (m.outcome === 'completed') {
    multi.lpush(metricsKey(prefix, 'recent-job-seconds'), seconds.toFixed(3));
    multi.ltrim(metricsKey(prefix, 'recent-job-seconds'), 0, RECENT_JOBS - 1);
  }
  await multi.exec();
}

export interface HistogramSnapshot {
  /** Cumulative counts per upper bound, `+Inf` last. */
  buckets: { le: number | '+Inf'; count: number }[];
  count: number;
  sum: number;
}

function histogram(bounds: readonly number[], hash: Record<string, string>): HistogramSnapshot {
  let cumulative = 0;
  const buckets: HistogramSnapshot['buckets'] = [];
  bounds.forEach((le, i) => {
    cumulative += Number(hash[`b${i}`] ?? 0);
    buckets.push({ le, count: cumulative });
  });
  cumulative += Number(hash[`b${bounds.length}`] ?? 0);
  buckets.push({ le: '+Inf', count: cumulative });
  return { buckets, count: Number(hash.count ?? 0), sum: Number(hash.sum ?? 0) };
}

export interface FleetMetrics {
  attempts: Record<string, number>;
  jobSeconds: HistogramSnapshot;
  stepSeconds: HistogramSnapshot;
  images: Record<string, number>;
  busySeconds: number;
  /** Mean duration of the last completed jobs; null before the first. */
  recentMeanJobSeconds: number | null;
}

export async function readFleetMetrics(redis: RedisClient, prefix: string): Promise<FleetMetrics> {
  const [attempts, jobs, steps, images, busy, recent] = await Promise.all([
    redis.hgetall(metricsKey(prefix, 'attempts')),
    redis.hgetall(metricsKey(prefix, 'job-seconds')),
    redis.hgetall(metricsKey(prefix, 'step-seconds')),
    redis.hgetall(metricsKey(prefix, 'images')),
    redis.hget(metricsKey(prefix, 'busy'), 'seconds'),
    redis.lrange(metricsKey(prefix, 'recent-job-seconds'), 0, -1),
  ]);
  const numbers = (hash: Record<string, string>) =>
    Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Number(v)]));
  return {
    attempts: numbers(attempts),
    jobSeconds: histogram(JOB_DURATION_BUCKETS, jobs),
    stepSeconds: histogram(STEP_DURATION_BUCKETS, steps),
    images: numbers(images),
    busySeconds: Number(busy ?? 0),
    recentMeanJobSeconds: recent.length ? recent.reduce((a, b) => a + Number(b), 0) / recent.length : null,
  };
}
