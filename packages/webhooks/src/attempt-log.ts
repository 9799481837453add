/**
 * Every delivery attempt, kept in Redis under the job (or batch) it is about and served at
 * `GET /v1/jobs/{id}/webhooks`. A list per subject, capped, expiring with the results.
 */
import type { RedisClient } from '@kiln/queue';

export interface AttemptRecord {
  webhook_id: string;
  type: string;
  url: string;
  /** 0 for "queued" (the message exists, no attempt yet); 1, 2, … for attempts. */
  attempt: number;
  /** ISO time the attempt started (or the message was queued). */
  at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number | null;
  /** `queued`, `delivered`, `retrying` (another attempt at next_attempt_at) or `failed` (no more attempts). */
  outcome: 'queued' | 'delivered' | 'retrying' | 'failed';
  next_attempt_at: string | null;
}

export interface Subject {
  kind: 'job' | 'batch';
  id: string;
}

const MAX_RECORDS = 2000;

export const attemptLogKey = (prefix: string, subject: Subject) =>
  `${prefix}:kiln:webhook-log:${subject.kind}:${subject.id}`;

export async function appendAttempt(
  redis: RedisClient,
  prefix: string,
  subject: Subject,
  record: AttemptRecord,
  ttlMs: number,
): Promise<void> {
  const key = attemptLogKey(prefix, subject);
  await redis.multi().rpush(key, JSON.stringify(record)).ltrim(key, -MAX_RECORDS, -1).pexpire(key, ttlMs).exec();
}

export async function readAttempts(redis: RedisClient, prefix: string, subject: Subject): Promise<AttemptRecord[]> {
  const raw = await redis.lrange(attemptLogKey(prefix, subject), 0, -1);
  return raw.map((line) => JSON.parse(line) as AttemptRecord);
}

export interface DeliveryView {
  webhook_id: string;
  type: string;
  url: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: Array<Pick<AttemptRecord, 'attempt' | 'at' | 'status_code' | 'error' | 'duration_ms' | 'next_attempt_at'>>;
}

/** The log grouped by message, in the order messages were queued. */
export function groupDeliveries(records: AttemptRecord[]): DeliveryView[] {
  const byId = new Map<string, DeliveryView>();
  for (const r of records) {
    let view = byId.get(r.webhook_id);
    if (!view) {
      view = { webhook_id: r.webhook_id, type: r.type, url: r.url, status: 'pending', attempts: [] };
      byId.set(r.webhook_id, view);
    }
    if (r.attempt === 0) continue;
    view.attempts.push({
      attempt: r.attempt,
      at: r.at,
      status_code: r.status_code,
      error: r.error,
      duration_ms: r.duration_ms,
      next_attempt_at: r.next_attempt_at,
    });
    view.status = r.outcome === 'delivered' ? 'delivered' : r.outcome === 'failed' ? 'failed' : 'pending';
  }
  return [...byId.values()];
}
