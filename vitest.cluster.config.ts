/**
 * The test suite against a Redis Cluster (`npm run test:cluster`): the same tests, with a local
 * 3-master cluster started first and REDIS_URL set to it (docs/operations.md, "Redis Cluster").
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    test: { globalSetup: ['test/redis-cluster.global-setup.ts'] },
  }),
);
