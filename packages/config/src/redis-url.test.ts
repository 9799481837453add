import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { isRedisClusterUrl, parseRedisUrl, redisKeyPrefix } from './redis-url.js';

describe('REDIS_URL', () => {
  it('keeps a single Redis URL as it is', () => {
    expect(parseRedisUrl('redis://:pw@10.0.0.5:6380/2')).toEqual({
      cluster: false,
      url: 'redis://:pw@10.0.0.5:6380/2',
    });
    expect(parseRedisUrl('rediss://redis.example:6379')).toMatchObject({ cluster: false });
    expect(isRedisClusterUrl('redis://127.0.0.1:6379')).toBe(false);
    expect(isRedisClusterUrl(undefined)).toBe(false);
  });

  it('reads a cluster by its seed nodes, credentials and TLS', () => {
    expect(parseRedisUrl('redis-cluster://127.0.0.1:7000,127.0.0.1:7001')).toEqual({
      cluster: true,
      nodes: [
        { host: '127.0.0.1', port: 7000 },
        { host: '127.0.0.1', port: 7001 },
      ],
      username: undefined,
      password: undefined,
      tls: false,
    });
    expect(parseRedisUrl('rediss-cluster://kiln:p%40ss@redis-0.internal:6379,[::1]:6380/0')).toEqual({
      cluster: true,
      nodes: [
        { host: 'redis-0.internal', port: 6379 },
        { host: '::1', port: 6380 },
      ],
      username: 'kiln',
      password: 'p@ss',
      tls: true,
    });
  });

  it('names what is wrong', () => {
    expect(() => parseRedisUrl('redis-cluster://127.0.0.1')).toThrow(/"127.0.0.1" is not host:port/);
    expect(() => parseRedisUrl('redis-cluster://127.0.0.1:7000/3')).toThrow(/only database 0/);
    expect(() => parseRedisUrl('http://127.0.0.1:6379')).toThrow(/unsupported scheme http:/);
    expect(() => loadConfig({ REDIS_URL: 'redis-cluster://a:1,b' })).toThrow(/REDIS_URL: cluster node "b"/);
  });

  it('hash-tags the key prefix on a cluster only', () => {
    expect(redisKeyPrefix('kiln', 'redis-cluster://127.0.0.1:7000')).toBe('{kiln}');
    expect(redisKeyPrefix('kiln', 'redis://127.0.0.1:6379')).toBe('kiln');
    expect(redisKeyPrefix('kiln', undefined)).toBe('kiln');
    expect(loadConfig({ REDIS_URL: 'rediss-cluster://h:1', KILN_QUEUE_PREFIX: 'a-b' }).queuePrefix).toBe('{a-b}');
  });
});
