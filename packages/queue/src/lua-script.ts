import { createHash } from 'node:crypto';
import type { RedisClient } from './connection.js';

/**
 * A Lua script run with EVALSHA, falling back to EVAL when Redis does not know it yet (after a
 * restart or SCRIPT FLUSH). Everything a script does happens atomically in Redis, which is why
 * the counters, markers and state moves below are scripts rather than several round trips.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[] = []): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
