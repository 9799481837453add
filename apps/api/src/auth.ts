/**
 * Bearer-token authentication against the keys file (docs/api.md). Tokens are stored as SHA-256
 * hex digests; the file is re-read when it changes, so keys can be added while Kiln runs.
 * Without a keys file Kiln is in local mode: every caller is the `local` tenant (and the server
 * binds to loopback only).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { KilnError } from '@kiln/contracts';
import type { NextFunction, Request, Response } from 'express';
import { z } from 'zod';
import type { AuthFailureThrottle } from './auth-throttle.js';

/** Ids and tenants end up in Redis key names and URLs: keep them to a safe alphabet. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const keySchema = z.object({
  id: z.string().regex(NAME, 'letters, digits, ".", "_" and "-" only, at most 128'),
  tenant: z.string().regex(NAME, 'letters, digits, ".", "_" and "-" only, at most 128'),
  token_sha256: z.string().regex(/^[0-9a-f]{64}$/i),
  webhook_secret: z.string().optional(),
  rate_limit_per_minute: z.number().int().positive().optional(),
  max_queued_jobs: z.number().int().positive().optional(),
  lane: z.enum(['interactive', 'batch']).default('interactive'),
  /** An operator's key also sees the whole fleet: GET /v1/workers, GET /v1/queue (docs/operations.md). */
  operator: z.boolean().default(false),
});
const keysFileSchema = z.object({ keys: z.array(keySchema) }).superRefine((file, ctx) => {
  const seen = new Set<string>();
  file.keys.forEach((key, i) => {
    if (seen.has(key.id))
      ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: `duplicate key id ${key.id}` });
    seen.add(key.id);
  });
});
export type ApiKey = z.infer<typeof keySchema>;

export interface Caller {
  keyId: string;
  tenant: string;
  lane: 'interactive' | 'batch';
  /** May see the fleet (workers, queues), not only its own tenant's work. */
  operator: boolean;
  /** Requests per minute for this key (429 above it); undefined = unlimited. */
  rateLimitPerMinute?: number;
  /** Jobs this key may have accepted and not ended (503 `queue_full` above it); undefined = unlimited. */
  maxQueuedJobs?: number;
}

/** Local mode has one user, who runs the machine: the operator. */
export const LOCAL_CALLER: Caller = Object.freeze({
  keyId: 'local',
  tenant: 'local',
  lane: 'interactive',
  operator: true,
});

/** Why a keys file cannot be used, naming the file and the field. */
export class KeysFileError extends Error {
  override readonly name = 'KeysFileError';
}

function readKeysFile(file: string): ApiKey[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new KeysFileError(`keys file ${file}: ${(err as Error).message}`);
  }
  const parsed = keysFileSchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new KeysFileError(`keys file ${file} is invalid:\n${lines.join('\n')}`);
  }
  return parsed.data.keys;
}

/**
 * The keys of the keys file, re-read when the file changes (checked with one `stat` per lookup:
 * modification time, size and inode, so an editor's write-and-rename is seen too). A file that
 * becomes unreadable or invalid keeps the last good keys in service and is reported once.
 */
export class KeyRing {
  private loadedVersion = '';
  private reportedError = '';
  private keys: ApiKey[] = [];

  /** Throws {@link KeysFileError} when the file cannot be used at start. */
  constructor(
    private readonly file: string,
    private readonly onReloadError: (err: Error) => void = () => undefined,
  ) {
    this.reload();
  }

  private reload(): void {
    const st = statSync(this.file);
    const version = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (version === this.loadedVersion) return;
    this.keys = readKeysFile(this.file);
    this.loadedVersion = version;
  }

  private refresh(): void {
    try {
      this.reload();
    } catch (err) {
      // keep serving with the last good keys while the file is mid-edit or broken; say so once
      const message = (err as Error).message;
      if (message !== this.reportedError) this.onReloadError(err as Error);
      this.reportedError = message;
    }
  }

  find(token: string): ApiKey | undefined {
    this.refresh();
    const digest = createHash('sha256').update(token).digest();
    return this.keys.find((k) => timingSafeEqual(Buffer.from(k.token_sha256, 'hex'), digest));
  }

  /** A key by its id (for usage and signing); undefined when the file no longer has it. */
  byId(id: string): ApiKey | undefined {
    this.refresh();
    return this.keys.find((k) => k.id === id);
  }
}

/** Where callers sometimes put a key; Kiln reads none of them, and says so instead of "no key". */
const UNREAD_KEY_HEADERS = ['x-api-key', 'api-key', 'x-auth-token'];

function missingKeyMessage(req: Request): string {
  const misplaced = UNREAD_KEY_HEADERS.find((h) => req.headers[h] !== undefined);
  if (misplaced) return `the API key is read from Authorization: Bearer <key> only, not from ${misplaced}`;
  if (req.get('authorization')) return 'unknown API key, or not of the form Authorization: Bearer <key>';
  return 'a valid API key is required: Authorization: Bearer <key>';
}

/**
 * Authenticates from `Authorization: Bearer <key>`, the one documented place (never a query
 * parameter or another header, which end up in logs and proxies). Runs before any body is read.
 * Failed attempts are counted per client address by `throttle`; a throttled address gets 429.
 */
export function authenticate(keys: KeyRing | undefined, throttle?: AuthFailureThrottle) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!keys) {
      res.locals.caller = LOCAL_CALLER;
      return next();
    }
    const address = req.ip ?? req.socket.remoteAddress ?? '';
    const waitMs = throttle?.waitMs(address) ?? 0;
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      return next(
        new KilnError('rate_limited', `too many failed authentications from this address; retry in ${seconds} s`, {
          retryAfterSeconds: seconds,
        }),
      );
    }
    const match = /^Bearer\s+(.+)$/i.exec(req.get('authorization') ?? '');
    const key = match ? keys.find(match[1].trim()) : undefined;
    if (!key) {
      throttle?.fail(address);
      return next(new KilnError('unauthorized', missingKeyMessage(req)));
    }
    res.locals.caller = {
      keyId: key.id,
      tenant: key.tenant,
      lane: key.lane,
      operator: key.operator,
      rateLimitPerMinute: key.rate_limit_per_minute,
      maxQueuedJobs: key.max_queued_jobs,
    } satisfies Caller;
    next();
  };
}

export const callerOf = (res: Response): Caller => res.locals.caller as Caller;

/** The caller, who must hold an operator key (`"operator": true` in the keys file); 403 otherwise. */
export function operatorOf(res: Response): Caller {
  const caller = callerOf(res);
  if (!caller.operator) {
    throw new KilnError('forbidden', 'this needs an operator key ("operator": true in the keys file)');
  }
  return caller;
}
