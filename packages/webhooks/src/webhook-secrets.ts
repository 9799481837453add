/**
 * Where a delivery's signing secret comes from: the `webhook_secret` of the API key that made
 * the request (keys file, re-read when it changes, so rotating a secret takes effect on the next
 * attempt), or in local mode the operator's KILN_WEBHOOK_SECRET. Jobs carry the key id only:
 * secrets never travel through Redis or logs.
 */
import { readFileSync, statSync } from 'node:fs';
import { isWebhookSecret } from './signing.js';

export interface WebhookSecretSource {
  /** KILN_KEYS_FILE; unset = local mode. */
  keysFile: string | undefined;
  /** KILN_WEBHOOK_SECRET (local mode). */
  localSecret: string | undefined;
}

interface KeyEntry {
  id?: unknown;
  webhook_secret?: unknown;
}

export class WebhookSecrets {
  private loadedMtime = -1;
  private secrets = new Map<string, string>();

  constructor(private readonly source: WebhookSecretSource) {}

  private reload(): void {
    const file = this.source.keysFile;
    if (!file) return;
    try {
      const mtime = statSync(file).mtimeMs;
      if (mtime === this.loadedMtime) return;
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { keys?: KeyEntry[] };
      const next = new Map<string, string>();
      for (const key of parsed.keys ?? []) {
        if (typeof key.id === 'string' && typeof key.webhook_secret === 'string') next.set(key.id, key.webhook_secret);
      }
      this.secrets = next;
      this.loadedMtime = mtime;
    } catch {
      // a file being rewritten: keep the last good secrets
    }
  }

  /** The signing secret for deliveries of key `keyId`, or undefined when it has none (or an unusable one). */
  secretFor(keyId: string | undefined): string | undefined {
    if (!this.source.keysFile) return isWebhookSecret(this.source.localSecret) ? this.source.localSecret : undefined;
    this.reload();
    const secret = keyId === undefined ? undefined : this.secrets.get(keyId);
    return isWebhookSecret(secret) ? secret : undefined;
  }

  /** Why {@link secretFor} has nothing for this key, in words for a 422 or the attempt log. */
  missingReason(keyId: string | undefined): string {
    return this.source.keysFile
      ? `API key ${keyId ?? '?'} has no usable webhook_secret (whsec_<base64>) in the keys file`
      : 'no webhook signing secret is configured: set KILN_WEBHOOK_SECRET=whsec_<base64> (local mode)';
  }
}
