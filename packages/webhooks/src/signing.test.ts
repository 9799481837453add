import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret, isWebhookSecret, signWebhook } from './signing.js';

describe('signWebhook', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const body = '{"type":"job.completed","data":{"id":"j1"}}';

  it('signs "id.timestamp.body" with HMAC-SHA256 keyed by the decoded secret (the spec, by hand)', () => {
    const at = new Date(1_700_000_000_000);
    const headers = signWebhook(secret, 'msg_1', body, at);
    const key = Buffer.from(secret.slice(6), 'base64');
    const expected = createHmac('sha256', key).update(`msg_1.1700000000.${body}`).digest('base64');
    expect(headers).toEqual({
      'webhook-id': 'msg_1',
      'webhook-timestamp': '1700000000',
      'webhook-signature': `v1,${expected}`,
    });
  });

  it('verifies with the reference implementation, and a tampered body does not', () => {
    const headers = signWebhook(secret, 'msg_2', body);
    const verifier = new Webhook(secret);
    expect(verifier.verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => verifier.verify(body.replace('j1', 'j2'), { ...headers })).toThrow(/signature/i);
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow(/signature/i);
  });

  it('tells usable secrets', () => {
    expect(isWebhookSecret(generateWebhookSecret())).toBe(true);
    expect(isWebhookSecret(secret)).toBe(true);
    expect(isWebhookSecret('whsec_')).toBe(false);
    expect(isWebhookSecret('whsec_c2hvcnQ=')).toBe(false); // 5 bytes
    expect(isWebhookSecret('sk_live_abc')).toBe(false);
    expect(isWebhookSecret(undefined)).toBe(false);
  });
});
