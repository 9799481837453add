export * from './worker-memory.js';
export * from './sd15-profiles.js';
