export { StoreLimitError, InvalidKeyError, type BlobStore } from './blob-store.js';
export { FileStore } from './file-store.js';
export { S3Store, type S3StoreOptions } from './s3-store.js';
export { createStore, describeStore, type StorageSettings } from './create-store.js';
export { resultKey, inputKey, resultManifestKey, assetKey } from './keys.js';
