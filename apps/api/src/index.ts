export { createApp } from './app.js';
export { startApi, type ApiServer } from './server.js';
export { ModelCatalog, type ApiDeps } from './deps.js';
