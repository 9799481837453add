/**
 * Fair sharing of workers between tenants' batch work, inside plain BullMQ: start-time fair
 * queuing (Goyal et al., 1996) mapped onto job priorities. docs/fairness.md explains it.
 *
 * - Every batch item gets a virtual start tag S = max(F_t, V), and its tenant's finish tag becomes
 *   F_t = S + cost (cost ≈ the item's denoising work in units of one 512×512 30-step image).
 * - V, the global virtual time, is the largest start tag of any item a worker has started.
 * - The item's BullMQ priority is FAIR_FLOOR + (S − base): lower runs first, so items run in
 *   start-tag order. A tenant that queues 100 000 items takes tags V … V+100 000; one that comes
 *   later starts at the current V, so its items interleave with the front of the big backlog
 *   instead of queuing behind it. A tenant idle for a while starts at V too (no hoarded credit).
 * - BullMQ priorities stop at 2^21 − 1, so tags are stored relative to `base`. When V has moved
 *   `rebaseAfter` units past base, {@link FairShare.rebase} moves base up to V and lowers the
 *   priority of every waiting batch item by the same amount (order kept).
 */
import type { RedisClient } from '@kiln/queue';
import { LuaScript } from '@kiln/queue';
import { PRIORITY } from '@kiln/queue';

/** Lowest priority a fair-queued batch item gets; async (5) and interactive (none) always run first. */
export const FAIR_FLOOR = PRIORITY.batch + 1;
/** BullMQ's largest priority. */
export const PRIORITY_LIMIT = 2 ** 21 - 1;
/** Default distance between V and base that triggers a rebase. */
export const DEFAULT_REBASE_AFTER = 2 ** 20;

/** Work of one request in fair-share units: one unit = one 512×512 image at 30 steps (min 1). */
export function fairCost(work: { images: number; steps: number; width: number; height: number }): number {
  return Math.max(1, Math.round((work.images * work.steps * work.width * work.height) / (512 * 512 * 30)));
}

// KEYS: vtime, tenant clock, base. ARGV: clock ttl (s), floor, limit, cost1, cost2, …
// Returns a flat list: tag1, priority1, tag2, priority2, …
const ASSIGN = new LuaScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local f = tonumber(redis.call('GET', KEYS[2]) or '0')
local base = tonumber(redis.call('GET', KEYS[3]) or '0')
local floor = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local s = math.max(f, v, base)
local out = {}
for i = 4, #ARGV do
  local p = floor + s - base
  if p > limit then p = limit end
  out[#out + 1] = s
  out[#out + 1] = p
  s = s + tonumber(ARGV[i])
end
redis.call('SET', KEYS[2], s, 'EX', tonumber(ARGV[1]))
return out
`);

// KEYS: vtime. ARGV: tag. V only moves forward.
const ADVANCE = new LuaScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = tonumber(ARGV[1])
if t > v then redis.call('SET', KEYS[1], t) return t end
return v
`);

export interface FairTag {
  tag: number;
  priority: number;
}

export interface FairShareOptions {
  /** Queue key prefix (KILN_QUEUE_PREFIX). */
  prefix: string;
  /** Distance between V and base after which the next {@link FairShare.rebase} moves base. */
  rebaseAfter?: number;
}

/** A tenant's clock is forgotten after a week without batch work (it would be below V anyway). */
const CLOCK_TTL_S = 7 * 24 * 3600;

export class FairShare {
  readonly rebaseAfter: number;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: FairShareOptions,
  ) {
    this.rebaseAfter = options.rebaseAfter ?? DEFAULT_REBASE_AFTER;
  }

  private key(name: string): string {
    return `${this.options.prefix}:kiln:fair:${name}`;
  }

  /** Start tags and priorities for a tenant's next items, in order, given each item's cost. */
  async assign(tenant: string, costs: readonly number[]): Promise<FairTag[]> {
    if (costs.length === 0) return [];
    const flat = (await ASSIGN.run(
      this.redis,
      [this.key('vtime'), this.key(`clock:${tenant}`), this.key('base')],
      [CLOCK_TTL_S, FAIR_FLOOR, PRIORITY_LIMIT, ...costs.map((c) => Math.max(1, Math.round(c)))],
    )) as number[];
    const out: FairTag[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ tag: Number(flat[i]), priority: Number(flat[i + 1]) });
    return out;
  }

  /** A worker started an item with this tag: V moves up to it. Returns V. */
  async started(tag: number): Promise<number> {
    return Number(await ADVANCE.run(this.redis, [this.key('vtime')], [tag]));
  }

  /** The global virtual time V and the current base. */
  async clock(): Promise<{ vtime: number; base: number }> {
    const [v, b] = await this.redis.mget(this.key('vtime'), this.key('base'));
    return { vtime: Number(v ?? 0), base: Number(b ?? 0) };
  }

  /** Whether V has moved far enough past base that {@link rebase} should run. */
  async rebaseDue(): Promise<boolean> {
    const { vtime, base } = await this.clock();
    return vtime - base >= this.rebaseAfter;
  }

  /**
   * Moves base up to V and re-prioritizes every waiting batch item against the new base, so
   * priorities stay far below BullMQ's limit however long the batch lane stays busy. One rebase
   * at a time (a Redis lock); items keep their order. `reprioritize(jobId, base)` sets one job's
   * priority to {@link fairPriority}(its tag, base). Items queued while a rebase runs may briefly
   * run a little early or late; nothing is lost or duplicated.
   */
  async rebase(reprioritize: (jobId: string, base: number) => Promise<void>, prioritizedKey: string): Promise<number> {
    const lock = this.key('rebase-lock');
    if ((await this.redis.set(lock, '1', 'EX', 600, 'NX')) !== 'OK') return 0;
    try {
      const { vtime, base } = await this.clock();
      if (vtime <= base) return 0;
      await this.redis.set(this.key('base'), vtime);
      // Prioritized scores are priority × 2^32 + a counter: fair-lane jobs are those at or above FAIR_FLOOR.
      const minScore = FAIR_FLOOR * 2 ** 32;
      const ids: string[] = [];
      for (let offset = 0; ; offset += 2000) {
        const page = await this.redis.zrangebyscore(prioritizedKey, minScore, '+inf', 'LIMIT', offset, 2000);
        ids.push(...page);
        if (page.length < 2000) break;
      }
      for (let i = 0; i < ids.length; i += 50) {
        await Promise.all(ids.slice(i, i + 50).map((id) => reprioritize(id, vtime)));
      }
      return ids.length;
    } finally {
      await this.redis.del(lock);
    }
  }
}

/** The BullMQ priority of a batch item with start tag `tag` against `base`. */
export function fairPriority(tag: number, base: number): number {
  return Math.min(PRIORITY_LIMIT, FAIR_FLOOR + Math.max(0, tag - base));
}
