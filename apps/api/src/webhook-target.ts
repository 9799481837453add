/**
 * A `webhook_url` is accepted only when Kiln could deliver to it: a public address (unless
 * KILN_WEBHOOK_ALLOW_PRIVATE=1; every address the host resolves to is checked) and a signing
 * secret for the caller's key. Otherwise 422 naming the field, at submit time rather than as a
 * silent delivery failure later. The delivery worker checks the addresses again before each attempt.
 */
import { KilnError } from '@kiln/contracts';
import { WebhookUrlRefused, checkWebhookUrl } from '@kiln/webhooks';
import type { Caller } from './auth.js';
import type { ApiDeps } from './deps.js';

export async function assertWebhookTarget(
  deps: Pick<ApiDeps, 'config' | 'secrets'>,
  caller: Caller,
  url: string | undefined,
  fieldName = 'webhook_url',
): Promise<void> {
  if (url === undefined) return;
  try {
    await checkWebhookUrl(url, { allowPrivate: deps.config.webhookAllowPrivate });
  } catch (err) {
    if (err instanceof WebhookUrlRefused) throw new KilnError('invalid_request', err.reason, { field: fieldName });
    throw err;
  }
  if (!deps.secrets.secretFor(caller.keyId)) {
    throw new KilnError('invalid_request', `${deps.secrets.missingReason(caller.keyId)}; webhooks cannot be signed`, {
      field: fieldName,
    });
  }
}
