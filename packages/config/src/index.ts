export { loadConfig, ConfigError, type KilnConfig, type StorageConfig } from './config.js';
export { createLogger, LOG_FLUSH_INTERVAL_MS, type Logger } from './logger.js';
export { loadClientEnv, type ClientEnv } from './client-env.js';
export {
  parseRedisUrl,
  isRedisClusterUrl,
  redisKeyPrefix,
  type RedisTarget,
  type RedisClusterNode,
} from './redis-url.js';
