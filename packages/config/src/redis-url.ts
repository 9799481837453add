/**
 * `REDIS_URL` names either one Redis (`redis://…`, `rediss://…` for TLS) or a Redis Cluster
 * (`redis-cluster://…`, `rediss-cluster://…`) by one or more of its nodes, comma-separated:
 * `redis-cluster://:secret@10.0.0.5:6379,10.0.0.6:6379`. The client asks the first node that
 * answers for the cluster's layout, so listing more than one only matters when some may be down
 * at start. Pure parsing: the queue package turns this into an ioredis client, the configuration
 * uses it to validate the setting and to hash-tag the key prefix (docs/operations.md).
 */

export interface RedisClusterNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { cluster: false; url: string }
  | {
      cluster: true;
      nodes: RedisClusterNode[];
      username: string | undefined;
      password: string | undefined;
      tls: boolean;
    };

const CLUSTER_SCHEME = /^(rediss?)-cluster:\/\/(.*)$/s;

/** Whether `url` names a Redis Cluster (without checking the rest of it). */
export const isRedisClusterUrl = (url: string | undefined): boolean => url !== undefined && CLUSTER_SCHEME.test(url);

/** Parses `REDIS_URL`; throws an Error saying what is wrong with it. */
export function parseRedisUrl(url: string): RedisTarget {
  const match = CLUSTER_SCHEME.exec(url);
  if (!match) {
    const parsed = new URL(url); // throws on a malformed URL
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
      throw new Error(`unsupported scheme ${parsed.protocol} (redis:, rediss:, redis-cluster: or rediss-cluster:)`);
    }
    return { cluster: false, url };
  }
  const [, scheme, rest] = match;
  const at = rest.lastIndexOf('@');
  const credentials = at >= 0 ? rest.slice(0, at) : undefined;
  let hosts = at >= 0 ? rest.slice(at + 1) : rest;
  const database = /\/(\d*)$/.exec(hosts);
  if (database) {
    if (database[1] !== '' && database[1] !== '0') throw new Error('a Redis Cluster has only database 0');
    hosts = hosts.slice(0, database.index);
  }
  const nodes = hosts.split(',').map((entry) => {
    const node = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry.trim());
    if (!node || Number(node[2]) < 1 || Number(node[2]) > 65535) {
      throw new Error(`cluster node "${entry}" is not host:port`);
    }
    return { host: node[1].replace(/^\[(.*)\]$/, '$1'), port: Number(node[2]) };
  });
  let username: string | undefined;
  let password: string | undefined;
  if (credentials !== undefined) {
    const colon = credentials.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? credentials.slice(0, colon) : credentials) || undefined;
    password = colon >= 0 ? decodeURIComponent(credentials.slice(colon + 1)) || undefined : undefined;
  }
  return { cluster: true, nodes, username, password, tls: scheme === 'rediss' };
}

/**
 * The prefix of every Redis key of a Kiln deployment. On a cluster it is a hash tag, `{kiln}`, so
 * every key (BullMQ's and Kiln's own) hashes to one slot: BullMQ's scripts, Kiln's Lua scripts and
 * MULTI blocks may then touch any of them together. A prefix already written in braces is kept as
 * it is on a single Redis too, so a deployment can use the cluster's key names before it moves.
 */
export function redisKeyPrefix(queuePrefix: string, redisUrl: string | undefined): string {
  if (queuePrefix.startsWith('{')) return queuePrefix;
  return isRedisClusterUrl(redisUrl) ? `{${queuePrefix}}` : queuePrefix;
}
