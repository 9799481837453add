/**
 * Cross-process counters and histograms for `GET /metrics` (docs/api.md). Workers have no HTTP
 * server and there may be many of them, so they add what they measure to Redis when an attempt
 * ends, and whichever API process is scraped reads the totals: one view of the whole fleet.
 * Bucket counts are stored per bucket (not cumulative) and summed at read time. Duration
 * histograms are kept per series (family, model, resolution class: bounded label sets), as hash
 * fields `<series>|b<i>`, `<series>|count`, `<series>|sum`.
 */
import type { RedisClient } from '@kiln/queue';
import { stateKeys } from './state-keys.js';

/** Upper bounds (seconds) of the job duration histogram. */
export const JOB_DURATION_BUCKETS = [0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800] as const;
/** Upper bounds (seconds) of the denoising step duration histogram. */
export const STEP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

const metricsKey = (prefix: string, name: string) => stateKeys(prefix).metrics(name);

/** Upper bounds (megapixels) of the resolution classes that label duration histograms. */
const RESOLUTION_CLASSES = [
  [0.3, 'small'], // up to 512×576
  [0.6, 'medium'], // up to 768×768
  [1.1, 'large'], // up to 1024×1024
] as const;

/** A bounded label for an image size: small (≤ 0.3 MP), medium (≤ 0.6), large (≤ 1.1), xlarge. */
export function resolutionClass(width: number, height: number): string {
  const mp = (width * height) / 1e6;
  return RESOLUTION_CLASSES.find(([le]) => mp <= le)?.[1] ?? 'xlarge';
}

/** The labels of a duration series; `model` must come from a bounded set (an operator's models). */
export interface SeriesLabels {
  family: string;
  model: string;
  resolution: string;
}

// a tab never occurs in a family, model name or resolution class
const seriesField = (l: SeriesLabels) => [l.family, l.model, l.resolution].join('\t');

export interface AttemptMetrics {
  family: string;
  /** Model and resolution class of the durations (absent: the family's series with model "unknown"). */
  model?: string;
  resolution?: string;
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
  const series = seriesField({
    family: m.family,
    model: m.model ?? 'unknown',
    resolution: m.resolution ?? 'unknown',
  });
  const jobs = metricsKey(prefix, 'job-seconds');
  multi.hincrby(jobs, `${series}|b${bucketIndex(JOB_DURATION_BUCKETS, seconds)}`, 1);
  multi.hincrby(jobs, `${series}|count`, 1);
  multi.hincrbyfloat(jobs, `${series}|sum`, seconds.toFixed(6));
  if (m.stepDurationsMs.length) {
    const steps = metricsKey(prefix, 'step-seconds');
    const counts = new Map<number, number>();
    let sum = 0;
    for (const ms of m.stepDurationsMs) {
      const index = bucketIndex(STEP_DURATION_BUCKETS, ms / 1000);
      counts.set(index, (counts.get(index) ?? 0) + 1);
      sum += ms / 1000;
    }
    for (const [index, n] of counts) multi.hincrby(steps, `${series}|b${index}`, n);
    multi.hincrby(steps, `${series}|count`, m.stepDurationsMs.length);
    multi.hincrbyfloat(steps, `${series}|sum`, sum.toFixed(6));
  }
  if (m.images) multi.hincrby(metricsKey(prefix, 'images'), m.family, m.images);
  multi.hincrbyfloat(metricsKey(prefix, 'busy'), 'seconds', seconds.toFixed(6));
  await multi.exec();
}

/** Counts one webhook delivery attempt by its outcome (`delivered`, `retrying`, `failed`). */
export async function recordWebhookAttempt(redis: RedisClient, prefix: string, outcome: string): Promise<void> {
  await redis.hincrby(metricsKey(prefix, 'webhook-attempts'), outcome, 1);
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

/** One labeled series of a histogram. */
export interface HistogramSeries extends HistogramSnapshot {
  labels: SeriesLabels;
}

/** The series of a histogram hash (fields of another layout are ignored). */
function histogramSeries(bounds: readonly number[], hash: Record<string, string>): HistogramSeries[] {
  const bySeries = new Map<string, Record<string, string>>();
  for (const [field, value] of Object.entries(hash)) {
    const bar = field.lastIndexOf('|');
    if (bar < 0) continue;
    const series = field.slice(0, bar);
    const fields = bySeries.get(series) ?? {};
    fields[field.slice(bar + 1)] = value;
    bySeries.set(series, fields);
  }
  return [...bySeries].map(([series, fields]) => {
    const [family, model, resolution] = series.split('\t');
    return { labels: { family, model, resolution }, ...histogram(bounds, fields) };
  });
}

export interface FleetMetrics {
  attempts: Record<string, number>;
  jobSeconds: HistogramSeries[];
  stepSeconds: HistogramSeries[];
  images: Record<string, number>;
  busySeconds: number;
  /** Webhook delivery attempts by outcome. */
  webhookAttempts: Record<string, number>;
}

export async function readFleetMetrics(redis: RedisClient, prefix: string): Promise<FleetMetrics> {
  const [attempts, jobs, steps, images, busy, webhookAttempts] = await Promise.all([
    redis.hgetall(metricsKey(prefix, 'attempts')),
    redis.hgetall(metricsKey(prefix, 'job-seconds')),
    redis.hgetall(metricsKey(prefix, 'step-seconds')),
    redis.hgetall(metricsKey(prefix, 'images')),
    redis.hget(metricsKey(prefix, 'busy'), 'seconds'),
    redis.hgetall(metricsKey(prefix, 'webhook-attempts')),
  ]);
  const numbers = (hash: Record<string, string>) =>
    Object.fromEntries(Object.entries(hash).map(([k, v]) => [k, Number(v)]));
  return {
    attempts: numbers(attempts),
    jobSeconds: histogramSeries(JOB_DURATION_BUCKETS, jobs),
    stepSeconds: histogramSeries(STEP_DURATION_BUCKETS, steps),
    images: numbers(images),
    busySeconds: Number(busy ?? 0),
    webhookAttempts: numbers(webhookAttempts),
  };
}
