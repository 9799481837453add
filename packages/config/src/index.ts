export { loadConfig, ConfigError, type KilnConfig } from './config.js';
export { createLogger, type Logger } from './logger.js';
export { loadClientEnv, type ClientEnv } from './client-env.js';
