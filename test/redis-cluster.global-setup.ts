/**
 * Vitest global setup of `vitest.cluster.config.ts`: starts a 3-master Redis Cluster and points
 * every test at it through REDIS_URL (the harness and the processes tests spawn read it).
 */
import { startRedisCluster } from './redis-cluster.js';

export default async function setup(): Promise<() => Promise<void>> {
  const cluster = await startRedisCluster();
  process.env.REDIS_URL = cluster.url;
  console.log(`Redis Cluster for this run: ${cluster.url}`);
  return () => cluster.stop();
}
