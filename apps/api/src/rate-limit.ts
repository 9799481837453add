/**
 * Per-key request rate limit (the keys file's `rate_limit_per_minute`), counted in Redis so that
 * every API process shares it. Over the limit: 429 `rate_limited` with `Retry-After` (seconds).
 * Every authenticated request counts, polling included; keys without a limit, and local mode,
 * are not limited. Answers carry `RateLimit-Limit` and `RateLimit-Remaining`.
 */
import { KilnError } from '@kiln/contracts';
import { takeRateLimit } from '@kiln/state';
import type { NextFunction, Request, Response } from 'express';
import { callerOf } from './auth.js';
import type { ApiDeps } from './deps.js';

export function rateLimit(deps: Pick<ApiDeps, 'redis' | 'config'>) {
  return async (_req: Request, res: Response, next: NextFunction) => {
    const caller = callerOf(res);
    const limit = caller?.rateLimitPerMinute;
    if (!limit) return next();
    try {
      const decision = await takeRateLimit(deps.redis, deps.config.queuePrefix, caller.keyId, limit);
      res.set('RateLimit-Limit', String(limit));
      res.set('RateLimit-Remaining', String(decision.remaining));
      if (!decision.allowed) {
        const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
        return next(
          new KilnError(
            'rate_limited',
            `key ${caller.keyId} is over its limit of ${limit} requests per minute; retry in ${seconds} s`,
            {
              retryAfterSeconds: seconds,
            },
          ),
        );
      }
      next();
    } catch (err) {
      next(err);
    }
  };
}
