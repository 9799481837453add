/**
 * Delivers one webhook message per attempt: re-check the URL's addresses (they may have changed
 * since the request was accepted), sign with the key's current secret and a fresh timestamp,
 * POST, record the attempt. A non-2xx answer, a timeout or a network error throws, and BullMQ
 * retries with the exponential schedule; a refused address or a missing secret does not get
 * better by waiting and fails at once.
 */
import type { Logger } from '@kiln/config';
import { recordWebhookAttempt } from '@kiln/state';
import { UnrecoverableError, type Job } from 'bullmq';
import type { RedisClient } from '@kiln/queue';
import { WebhookUrlRefused, checkWebhookUrl } from './address-policy.js';
import { appendAttempt, type AttemptRecord } from './attempt-log.js';
import { backoffDelayMs } from './backoff.js';
import { webhookDeliverySchema, type WebhookDelivery } from './delivery-queue.js';
import { postWebhook, type AttemptResult } from './http-delivery.js';
import { signWebhook } from './signing.js';
import type { WebhookSecrets } from './webhook-secrets.js';

export interface DeliveryProcessorDeps {
  redis: RedisClient;
  prefix: string;
  secrets: WebhookSecrets;
  logger: Logger;
  allowPrivate: boolean;
  timeoutMs: number;
  backoffMs: number;
  /** How long attempt logs are kept (the results' retention). */
  logTtlMs: number;
}

export function createWebhookDeliveryProcessor(deps: DeliveryProcessorDeps) {
  return async function deliverWebhook(job: Job<WebhookDelivery>): Promise<{ statusCode: number }> {
    const parsed = webhookDeliverySchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed delivery: ${parsed.error.message}`);
    const delivery = parsed.data;
    const attempt = job.attemptsMade + 1;
    const maxAttempts = job.opts.attempts ?? 1;
    const at = new Date();

    const record = async (result: AttemptResult, finalFailure: boolean) => {
      const willRetry = !result.ok && !finalFailure && attempt < maxAttempts;
      const entry: AttemptRecord = {
        webhook_id: delivery.id,
        type: delivery.type,
        url: delivery.url,
        attempt,
        at: at.toISOString(),
        status_code: result.statusCode,
        error: result.error,
        duration_ms: result.durationMs,
        outcome: result.ok ? 'delivered' : willRetry ? 'retrying' : 'failed',
        next_attempt_at: willRetry
          ? new Date(Date.now() + backoffDelayMs(attempt, deps.backoffMs)).toISOString()
          : null,
      };
      await appendAttempt(deps.redis, deps.prefix, delivery.subject, entry, deps.logTtlMs);
      await recordWebhookAttempt(deps.redis, deps.prefix, entry.outcome).catch(() => undefined); // a metric only
    };

    try {
      await checkWebhookUrl(delivery.url, { allowPrivate: deps.allowPrivate });
    } catch (err) {
      if (!(err instanceof WebhookUrlRefused)) throw err;
      const result: AttemptResult = {
        ok: false,
        statusCode: null,
        error: `refused: ${err.reason}`,
        refused: true,
        durationMs: 0,
      };
      await record(result, !err.transient);
      if (err.transient) throw new Error(err.reason, { cause: err });
      throw new UnrecoverableError(err.reason);
    }

    const secret = deps.secrets.secretFor(delivery.keyId);
    if (!secret) {
      const reason = deps.secrets.missingReason(delivery.keyId);
      await record({ ok: false, statusCode: null, error: reason, refused: false, durationMs: 0 }, true);
      throw new UnrecoverableError(reason);
    }

    const headers = signWebhook(secret, delivery.id, delivery.body, at);
    const result = await postWebhook(delivery.url, delivery.body, {
      timeoutMs: deps.timeoutMs,
      allowPrivate: deps.allowPrivate,
      headers: { ...headers },
    });
    await record(result, result.refused);
    if (result.ok) return { statusCode: result.statusCode ?? 200 };
    deps.logger.info(
      { webhookId: delivery.id, url: delivery.url, attempt, statusCode: result.statusCode, error: result.error },
      'webhook attempt failed',
    );
    const reason = result.statusCode !== null ? `HTTP ${result.statusCode}` : (result.error ?? 'delivery failed');
    if (result.refused) throw new UnrecoverableError(reason);
    throw new Error(reason);
  };
}
