/**
 * `GET /v1/usage`: the caller's tenant's usage per API key and UTC day (docs/api.md), recorded by
 * the workers when jobs end. `from`/`to` (`YYYY-MM-DD`, inclusive; default the last 30 days),
 * `key_id` to narrow to one key: a key of another tenant answers 404.
 */
import { KilnError } from '@kiln/contracts';
import { readUsage, tenantHasUsageKey, utcDay, type UsageRow } from '@kiln/state';
import { Router } from 'express';
import { callerOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { QueryValidationError, queryString } from '../query-params.js';

const DAY_MS = 86_400_000;
export const USAGE_MAX_DAYS = 366;
export const USAGE_DEFAULT_DAYS = 30;

function parseDay(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms) || utcDay(ms) !== text) throw new QueryValidationError(name, 'must be a date YYYY-MM-DD');
  return ms;
}

const SUMMED = [
  'jobs',
  'jobs_completed',
  'jobs_failed',
  'jobs_canceled',
  'images',
  'steps',
  'megapixel_steps',
  'worker_seconds',
] as const;

export function usageRoutes(deps: ApiDeps): Router {
  const router = Router();

  router.get('/v1/usage', async (req, res) => {
    const caller = callerOf(res);
    const query = req.query as Record<string, unknown>;
    const today = Date.parse(`${utcDay(Date.now())}T00:00:00Z`);
    const to = parseDay('to', queryString(query, 'to')) ?? today;
    const from = parseDay('from', queryString(query, 'from')) ?? to - (USAGE_DEFAULT_DAYS - 1) * DAY_MS;
    if (from > to) throw new QueryValidationError('from', 'must not be after `to`');
    if ((to - from) / DAY_MS + 1 > USAGE_MAX_DAYS)
      throw new QueryValidationError('from', `the range is at most ${USAGE_MAX_DAYS} days`);
    const keyId = queryString(query, 'key_id');
    if (keyId !== undefined) {
      const key = deps.keys?.byId(keyId);
      const ours =
        (key ? key.tenant === caller.tenant : keyId === caller.keyId) ||
        (await tenantHasUsageKey(deps.redis, deps.config.queuePrefix, caller.tenant, keyId));
      if (!ours) throw new KilnError('not_found', `no API key ${keyId}`);
    }
    const rows = await readUsage(deps.redis, deps.config.queuePrefix, caller.tenant, {
      from: utcDay(from),
      to: utcDay(to),
      keyIds: keyId === undefined ? undefined : [keyId],
    });
    const totals = Object.fromEntries(SUMMED.map((field) => [field, 0])) as Record<(typeof SUMMED)[number], number>;
    for (const row of rows) for (const field of SUMMED) totals[field] += row[field as keyof UsageRow] as number;
    totals.megapixel_steps = Math.round(totals.megapixel_steps * 1e6) / 1e6;
    totals.worker_seconds = Math.round(totals.worker_seconds * 1000) / 1000;
    res.json({ tenant: caller.tenant, from: utcDay(from), to: utcDay(to), usage: rows, totals });
  });

  return router;
}
