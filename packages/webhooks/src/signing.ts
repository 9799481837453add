/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): `webhook-signature` is
 * `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the base64 part of a `whsec_…`
 * secret. Signing uses the `standardwebhooks` package, the spec's reference implementation, so a
 * receiver verifying with any Standard Webhooks library agrees with Kiln byte for byte.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The three Standard Webhooks headers for one delivery attempt. The id stays the same across
 * retries (receivers deduplicate on it); the timestamp is the attempt's own, so receivers that
 * refuse old timestamps (replay protection) accept a retry sent hours later.
 */
export function signWebhook(secret: string, id: string, body: string, at: Date = new Date()): SignedHeaders {
  const signature = new Webhook(secret).sign(id, at, body);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signature,
  };
}

/** Whether a string is a usable `whsec_…` secret (base64 of at least 16 bytes). */
export function isWebhookSecret(secret: string | undefined): secret is string {
  if (!secret || !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(secret)) return false;
  return Buffer.from(secret.slice('whsec_'.length), 'base64').length >= 16;
}

/** A fresh random secret in the `whsec_<base64 of 32 bytes>` form (for keys files and KILN_WEBHOOK_SECRET). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
