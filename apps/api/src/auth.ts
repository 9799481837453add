/**
 * Bearer-token authentication against the keys file (CONTRACT §5). Tokens are stored as SHA-256
 * hex digests; the file is re-read when it changes, so keys can be added while Kiln runs.
 * Without a keys file Kiln is in local mode: every caller is the `local` tenant (and the server
 * binds to loopback only).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { KilnError } from '@kiln/contracts';
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';

const keySchema = z.object({
  id: z.string().min(1),
  tenant: z.string().min(1),
  token_sha256: z.string().regex(/^[0-9a-f]{64}$/i),
  webhook_secret: z.string().optional(),
  rate_limit_per_minute: z.number().int().positive().optional(),
  max_queued_jobs: z.number().int().positive().optional(),
  lane: z.enum(['interactive', 'batch']).default('interactive'),
});
const keysFileSchema = z.object({ keys: z.array(keySchema) });
export type ApiKey = z.infer<typeof keySchema>;

export interface Caller {
  keyId: string;
  tenant: string;
  lane: 'interactive' | 'batch';
}

export const LOCAL_CALLER: Caller = Object.freeze({ keyId: 'local', tenant: 'local', lane: 'interactive' });

export class KeyRing {
  private loadedMtime = -1;
  private keys: ApiKey[] = [];

  constructor(private readonly file: string) {
    this.reload();
  }

  private reload(): void {
    const mtime = statSync(this.file).mtimeMs;
    if (mtime === this.loadedMtime) return;
    this.keys = keysFileSchema.parse(JSON.parse(readFileSync(this.file, 'utf8'))).keys;
    this.loadedMtime = mtime;
  }

  find(token: string): ApiKey | undefined {
    try {
      this.reload();
    } catch {
      // keep serving with the last good keys if the file is mid-edit or broken
    }
    const digest = createHash('sha256').update(token).digest();
    return this.keys.find((k) => timingSafeEqual(Buffer.from(k.token_sha256, 'hex'), digest));
  }
}

export function authenticate(keys: KeyRing | undefined) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!keys) {
      res.locals.caller = LOCAL_CALLER;
      return next();
    }
    const match = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '');
    const key = match ? keys.find(match[1].trim()) : undefined;
    if (!key) return next(new KilnError('unauthorized', 'a valid API key is required: Authorization: Bearer <key>'));
    res.locals.caller = { keyId: key.id, tenant: key.tenant, lane: key.lane } satisfies Caller;
    next();
  };
}

export const callerOf = (res: Response): Caller => res.locals.caller as Caller;
