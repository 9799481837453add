/**
 * Job events a webhook can subscribe to (docs/api.md). `progress` fires as denoising advances;
 * the others fire once per job.
 */
export const WEBHOOK_EVENTS = ['started', 'progress', 'completed', 'failed', 'canceled'] as const;

/** One webhook event name. */
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** What a request with a `webhook_url` and no `webhook_events` subscribes to. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ['completed'];
