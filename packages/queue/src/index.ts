export * from './render-job.js';
export * from './render-queue.js';
export { createRedis, pingRedis, masterNodes, DEFAULT_REDIS_URL, type RedisClient } from './connection.js';
export * from './redis-keys.js';
export * from './cancel-job.js';
export * from './lua-script.js';
export * from './transactional-add.js';
