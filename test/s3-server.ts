/**
 * A real S3-compatible server on loopback for tests: `s3rver` (pure JS, speaks S3's REST API and
 * checks SigV4 signatures, presigned URLs and their expiry), with a fresh bucket and a folder of
 * its own. Kiln's S3 store talks to it exactly as it talks to MinIO or AWS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { S3Store } from '@kiln/storage';

/** s3rver's fixed credentials: it refuses requests signed with anything else. */
export const S3_TEST_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3TestServer {
  endpoint: string;
  bucket: string;
  /** The environment that points a `kiln api` / `kiln worker` process at this bucket. */
  env(prefix?: string): Record<string, string>;
  /** A store on this bucket, as Kiln's processes would build it. */
  store(prefix?: string): S3Store;
  close(): Promise<void>;
}

export async function startS3Server(bucket = 'kiln-test'): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'kiln-s3-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    env: (prefix = '') => ({
      KILN_STORAGE: 's3',
      KILN_S3_ENDPOINT: endpoint,
      KILN_S3_REGION: 'us-east-1',
      KILN_S3_BUCKET: bucket,
      KILN_S3_PREFIX: prefix,
      KILN_S3_FORCE_PATH_STYLE: '1',
      AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }),
    store: (prefix = '') =>
      new S3Store({
        endpoint,
        region: 'us-east-1',
        bucket,
        prefix,
        forcePathStyle: true,
        credentials: { ...S3_TEST_CREDENTIALS },
      }),
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
