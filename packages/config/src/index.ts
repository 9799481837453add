export { loadConfig, ConfigError, type KilnConfig, type StorageConfig } from './config.js';
export { createLogger, type Logger } from './logger.js';
export { loadClientEnv, type ClientEnv } from './client-env.js';
