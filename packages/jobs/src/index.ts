export * from './cancel.js';
export * from './job-lifecycle.js';
export * from './job-services.js';
export * from './job-usage.js';
