/**
 * Batches in Redis (docs/batches.md). A batch is a record (hash) plus its items in input order; each
 * valid item is an ordinary render job carrying `batch_id`. Workers report items that end with
 * {@link BatchStore.recordEnd}, one Lua script that counts each job once (a set of ended job ids),
 * keeps the item's outcome for the results, and closes the batch when the last item ends, so the
 * counters stay right across retries, restarts and several workers.
 *
 * Keys, under the queue prefix `p` next to Kiln's other `p:kiln:*` keys (all expire with the results' retention):
 * - `p:kiln:batch:{id}`            hash: the record and counters
 * - `p:kiln:batch:{id}:items`      list: one entry per input item, in order (job id, or the line's error)
 * - `p:kiln:batch:{id}:item-of`    hash: job id → its item entry (results in the order items ended)
 * - `p:kiln:batch:{id}:staging`    list: validated items waiting to be enqueued (during the upload only)
 * - `p:kiln:batch:{id}:ended`      set: job ids already counted
 * - `p:kiln:batch:{id}:active`     set: job ids running now
 * - `p:kiln:batch:{id}:outcomes`   hash: job id → outcome (status, seeds, images, error)
 * - `p:kiln:batch:{id}:finished`   list: job ids in the order they ended (the CLI downloads by it)
 * - `p:kiln:batch-watch:{jobId}`   set: further batches waiting on a job (a resubmitted, unfinished item)
 * - `p:kiln:batch-index:{tenant}:{sha256}` → job id: custom_id + body → the job that renders it (resubmission)
 * - `p:kiln:batches:{tenant}`      sorted set: the tenant's batch ids by creation time
 */
import type { RedisClient } from '@kiln/queue';
import { LuaScript } from '@kiln/queue';

export type BatchStatus = 'validating' | 'in_progress' | 'completed' | 'canceling' | 'canceled';
export type ItemEndStatus = 'completed' | 'failed' | 'canceled';

export interface BatchRecord {
  id: string;
  tenant: string;
  keyId: string | undefined;
  status: BatchStatus;
  createdAt: string;
  finishedAt: string | null;
  canceledAt: string | null;
  /** Items in the upload, bad lines included. */
  total: number;
  valid: number;
  invalid: number;
  completed: number;
  failed: number;
  canceled: number;
  /** Items that ended (completed + failed + canceled). */
  ended: number;
  /** Items answered by an earlier job of the same custom_id and body (resubmission). */
  reused: number;
  /** All items have been enqueued (the upload is over). */
  enqueued: boolean;
  webhookUrl: string | undefined;
  webhookEvents: string[];
  baseUrl: string | undefined;
}

/** A line that failed validation. */
export interface ItemError {
  code: string;
  message: string;
  detail?: unknown;
}

/** One input item, in input order. */
export interface BatchItemEntry {
  /** 0-based position among the items. */
  i: number;
  /** 1-based line of the body where the item starts. */
  line: number;
  custom_id: string | null;
  job_id?: string;
  /** Set when the line was refused; such items have no job. */
  error?: ItemError;
  /** The job was rendered for an earlier submission. */
  reused?: boolean;
}

export interface ItemOutcome {
  status: ItemEndStatus;
  seeds: number[];
  /** `key` and `sha256` of the stored image (absent on outcomes recorded before they were kept). */
  images: Array<{
    index: number;
    seed: number;
    removed_for_safety: boolean;
    content_type: string;
    key?: string | null;
    sha256?: string | null;
  }>;
  model: string | null;
  error: { code: string; message: string } | null;
  finished_at: string;
}

const FINISH = `
local function finish(keys, now, ttl)
  local h = redis.call('HMGET', keys[1], 'ended', 'valid', 'enqueued', 'status')
  if h[3] ~= '1' then return 'counted' end
  if tonumber(h[1] or '0') < tonumber(h[2] or '0') then return 'counted' end
  local st = h[4]
  if st ~= 'in_progress' and st ~= 'canceling' and st ~= 'validating' then return 'counted' end
  local final = 'completed'
  if st == 'canceling' then final = 'canceled' end
  redis.call('HSET', keys[1], 'status', final, 'finished_at', now)
  for i = 1, #keys do
    if redis.call('EXISTS', keys[i]) == 1 then redis.call('PEXPIRE', keys[i], ttl) end
  end
  return 'finished:' .. final
end
`;

// KEYS: hash, ended, active, outcomes, finished, items, item-of. ARGV: jobId, status, outcome, now, ttl
const RECORD_END = new LuaScript(`${FINISH}
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 'duplicate' end
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
redis.call('RPUSH', KEYS[5], ARGV[1])
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
redis.call('HINCRBY', KEYS[1], 'ended', 1)
return finish(KEYS, ARGV[4], ARGV[5])
`);

// KEYS: as RECORD_END. ARGV: now, ttl
const MARK_ENQUEUED = new LuaScript(`${FINISH}
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
redis.call('HSET', KEYS[1], 'enqueued', '1')
local st = redis.call('HGET', KEYS[1], 'status')
if st == 'validating' then redis.call('HSET', KEYS[1], 'status', 'in_progress') end
return finish(KEYS, ARGV[1], ARGV[2])
`);

// KEYS: as RECORD_END. ARGV: now, ttl
const REQUEST_CANCEL = new LuaScript(`${FINISH}
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local st = redis.call('HGET', KEYS[1], 'status')
if st ~= 'in_progress' and st ~= 'validating' then return st end
redis.call('HSET', KEYS[1], 'status', 'canceling', 'canceled_at', ARGV[1])
return finish(KEYS, ARGV[1], ARGV[2])
`);

// KEYS: ended, active. ARGV: jobId, ttl
const MARK_ACTIVE = new LuaScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`);

const num = (v: string | undefined) => (v === undefined ? 0 : Number(v));

export class BatchStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** How long batch records live after they were last touched (the results' retention). */
    private readonly ttlMs: number,
  ) {}

  key(id: string, part?: string): string {
    return `${this.prefix}:kiln:batch:${id}${part ? `:${part}` : ''}`;
  }

  private endKeys(id: string): string[] {
    return [
      this.key(id),
      this.key(id, 'ended'),
      this.key(id, 'active'),
      this.key(id, 'outcomes'),
      this.key(id, 'finished'),
      this.key(id, 'items'),
      this.key(id, 'item-of'),
    ];
  }

  async create(
    b: Pick<BatchRecord, 'id' | 'tenant' | 'keyId' | 'webhookUrl' | 'webhookEvents' | 'baseUrl'>,
  ): Promise<void> {
    const now = new Date();
    await this.redis
      .multi()
      .hset(this.key(b.id), {
        id: b.id,
        tenant: b.tenant,
        key_id: b.keyId ?? '',
        status: 'validating',
        created_at: now.toISOString(),
        total: 0,
        valid: 0,
        invalid: 0,
        completed: 0,
        failed: 0,
        canceled: 0,
        ended: 0,
        reused: 0,
        enqueued: '0',
        webhook_url: b.webhookUrl ?? '',
        webhook_events: JSON.stringify(b.webhookEvents),
        base_url: b.baseUrl ?? '',
      })
      .pexpire(this.key(b.id), this.ttlMs)
      .zadd(`${this.prefix}:kiln:batches:${b.tenant}`, now.getTime(), b.id)
      .pexpire(`${this.prefix}:kiln:batches:${b.tenant}`, this.ttlMs)
      .exec();
  }

  async get(id: string): Promise<BatchRecord | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    if (!h.id) return undefined;
    return {
      id: h.id,
      tenant: h.tenant,
      keyId: h.key_id || undefined,
      status: h.status as BatchStatus,
      createdAt: h.created_at,
      finishedAt: h.finished_at || null,
      canceledAt: h.canceled_at || null,
      total: num(h.total),
      valid: num(h.valid),
      invalid: num(h.invalid),
      completed: num(h.completed),
      failed: num(h.failed),
      canceled: num(h.canceled),
      ended: num(h.ended),
      reused: num(h.reused),
      enqueued: h.enqueued === '1',
      webhookUrl: h.webhook_url || undefined,
      webhookEvents: h.webhook_events ? (JSON.parse(h.webhook_events) as string[]) : [],
      baseUrl: h.base_url || undefined,
    };
  }

  async status(id: string): Promise<BatchStatus | undefined> {
    return ((await this.redis.hget(this.key(id), 'status')) ?? undefined) as BatchStatus | undefined;
  }

  /** The tenant's batch ids, newest first. */
  async list(tenant: string, limit: number): Promise<string[]> {
    return this.redis.zrevrange(`${this.prefix}:kiln:batches:${tenant}`, 0, limit - 1);
  }

  /** Sets counters known at upload time (total, valid, invalid, reused). */
  async setCounts(id: string, counts: Partial<Record<'total' | 'valid' | 'invalid', number>>): Promise<void> {
    await this.redis.hset(this.key(id), counts);
  }

  async incrementReused(id: string, by: number): Promise<void> {
    if (by > 0) await this.redis.hincrby(this.key(id), 'reused', by);
  }

  /** Appends validated items (any JSON) to the staging list. */
  async stage(id: string, entries: readonly unknown[]): Promise<void> {
    if (entries.length === 0) return;
    const key = this.key(id, 'staging');
    await this.redis
      .multi()
      .rpush(key, ...entries.map((e) => JSON.stringify(e)))
      .pexpire(key, this.ttlMs)
      .exec();
  }

  async readStaging<T>(id: string, start: number, count: number): Promise<T[]> {
    const raw = await this.redis.lrange(this.key(id, 'staging'), start, start + count - 1);
    return raw.map((r) => JSON.parse(r) as T);
  }

  async dropStaging(id: string): Promise<void> {
    await this.redis.del(this.key(id, 'staging'));
  }

  /** Removes a batch whose upload was refused as a whole. */
  async discard(id: string, tenant: string): Promise<void> {
    await this.redis.del(...this.endKeys(id), this.key(id, 'staging'));
    await this.redis.zrem(`${this.prefix}:kiln:batches:${tenant}`, id);
  }

  async appendItems(id: string, entries: readonly BatchItemEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const key = this.key(id, 'items');
    const multi = this.redis
      .multi()
      .rpush(key, ...entries.map((e) => JSON.stringify(e)))
      .pexpire(key, this.ttlMs);
    const withJobs = entries.filter((e) => e.job_id !== undefined);
    if (withJobs.length > 0) {
      const itemOf = this.key(id, 'item-of');
      multi
        .hset(itemOf, Object.fromEntries(withJobs.map((e) => [e.job_id as string, JSON.stringify(e)])))
        .pexpire(itemOf, this.ttlMs);
    }
    await multi.exec();
  }

  /** The item entries of these jobs (undefined for a job that is not an item of the batch). */
  async itemsOf(id: string, jobIds: readonly string[]): Promise<Array<BatchItemEntry | undefined>> {
    if (jobIds.length === 0) return [];
    const raw = await this.redis.hmget(this.key(id, 'item-of'), ...jobIds);
    return raw.map((r) => (r ? (JSON.parse(r) as BatchItemEntry) : undefined));
  }

  /** Which of these jobs have ended (been counted) in the batch. */
  async endedAmong(id: string, jobIds: readonly string[]): Promise<boolean[]> {
    if (jobIds.length === 0) return [];
    const flags = await this.redis.smismember(this.key(id, 'ended'), ...jobIds);
    return flags.map((f) => f === 1);
  }

  async items(id: string, start: number, count: number): Promise<BatchItemEntry[]> {
    const raw = await this.redis.lrange(this.key(id, 'items'), start, start + count - 1);
    return raw.map((r) => JSON.parse(r) as BatchItemEntry);
  }

  async outcomes(id: string, jobIds: readonly string[]): Promise<Array<ItemOutcome | undefined>> {
    if (jobIds.length === 0) return [];
    const raw = await this.redis.hmget(this.key(id, 'outcomes'), ...jobIds);
    return raw.map((r) => (r ? (JSON.parse(r) as ItemOutcome) : undefined));
  }

  /** Job ids in the order they ended, from position `start`. */
  async finished(id: string, start: number, count: number): Promise<string[]> {
    return this.redis.lrange(this.key(id, 'finished'), start, start + count - 1);
  }

  async activeJobs(id: string): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.key(id, 'active')));
  }

  async markActive(id: string, jobId: string): Promise<void> {
    // Only while the item has not ended: a `started` event handled after the item's end (tiny
    // renders race their own events) must not count it running.
    await MARK_ACTIVE.run(this.redis, [this.key(id, 'ended'), this.key(id, 'active')], [jobId, this.ttlMs]);
  }

  async markInactive(id: string, jobId: string): Promise<void> {
    await this.redis.srem(this.key(id, 'active'), jobId);
  }

  /**
   * Counts an item's end once. Returns `finished:completed|canceled` when it was the batch's last
   * item, `counted`, `duplicate` (already counted) or `missing` (the batch expired).
   */
  async recordEnd(id: string, jobId: string, status: ItemEndStatus, outcome: ItemOutcome): Promise<string> {
    return (await RECORD_END.run(this.redis, this.endKeys(id), [
      jobId,
      status,
      JSON.stringify(outcome),
      new Date().toISOString(),
      this.ttlMs,
    ])) as string;
  }

  /** The upload is over and every item is enqueued; returns `finished:…` when nothing was left to run. */
  async markEnqueued(id: string): Promise<string> {
    return (await MARK_ENQUEUED.run(this.redis, this.endKeys(id), [new Date().toISOString(), this.ttlMs])) as string;
  }

  /** Marks the batch canceling (or canceled when nothing runs); returns the new state, or the old one when already final. */
  async requestCancel(id: string): Promise<string> {
    return (await REQUEST_CANCEL.run(this.redis, this.endKeys(id), [new Date().toISOString(), this.ttlMs])) as string;
  }

  // ── resubmission index ────────────────────────────────────────────────────────────────────

  private indexKey(tenant: string, hash: string): string {
    return `${this.prefix}:kiln:batch-index:${tenant}:${hash}`;
  }

  async lookupIndex(tenant: string, hashes: readonly string[]): Promise<Array<string | null>> {
    if (hashes.length === 0) return [];
    return this.redis.mget(...hashes.map((h) => this.indexKey(tenant, h)));
  }

  async writeIndex(tenant: string, entries: ReadonlyArray<{ hash: string; jobId: string }>): Promise<void> {
    if (entries.length === 0) return;
    const multi = this.redis.multi();
    for (const e of entries) multi.set(this.indexKey(tenant, e.hash), e.jobId, 'PX', this.ttlMs);
    await multi.exec();
  }

  // ── batches waiting on a job of another batch ─────────────────────────────────────────────

  async watch(jobId: string, batchId: string): Promise<void> {
    const key = `${this.prefix}:kiln:batch-watch:${jobId}`;
    await this.redis.multi().sadd(key, batchId).pexpire(key, this.ttlMs).exec();
  }

  async watchers(jobId: string): Promise<string[]> {
    return this.redis.smembers(`${this.prefix}:kiln:batch-watch:${jobId}`);
  }
}
