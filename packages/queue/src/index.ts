export * from './render-job.js';
export * from './render-queue.js';
export { createRedis, pingRedis, DEFAULT_REDIS_URL } from './connection.js';
export * from './cancel-job.js';
export * from './lua-script.js';
