export { FileStore, InvalidKeyError, StoreLimitError } from './file-store.js';
export { resultKey, inputKey, resultManifestKey, assetKey } from './keys.js';
