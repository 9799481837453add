export { createApp } from './app.js';
export { startApi, type ApiServer } from './server.js';
export { ModelCatalog, type ApiDeps } from './deps.js';
export { API_NODE_FLAGS } from './node-flags.js';
