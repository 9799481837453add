export { FileStore, InvalidKeyError } from './file-store.js';
export { resultKey, inputKey, resultManifestKey } from './keys.js';
