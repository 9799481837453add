import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { PERMANENT_PREFIXES, StoreLimitError, assertKey, type BlobStore } from './blob-store.js';

/** Where the bucket is. Credentials are not here: the SDK's default chain finds them (AWS_* env, profile, role). */
export interface S3StoreOptions {
  /** S3-compatible endpoint (MinIO, R2, Ceph RGW); undefined: AWS S3 of `region`. */
  endpoint?: string;
  /**
   * The endpoint clients reach, for presigned URLs, where it differs from the one Kiln uses
   * (`http://minio:9000` inside a compose network, `https://files.example.com` outside).
   */
  publicEndpoint?: string;
  region: string;
  bucket: string;
  /** Prepended to every key (`kiln/` → `kiln/results/<job>/0.png`); '' for the bucket's root. */
  prefix: string;
  /** `bucket` in the path instead of the host name: MinIO and most self-hosted servers need it. */
  forcePathStyle: boolean;
  /** Explicit credentials (tests); production leaves them to the SDK's default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Bytes per multipart part of a streamed write (S3's minimum is 5 MiB). */
  partSizeBytes?: number;
}

const CONTENT_TYPES: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  json: 'application/json',
};

function contentTypeOf(key: string): string {
  return CONTENT_TYPES[key.slice(key.lastIndexOf('.') + 1)] ?? 'application/octet-stream';
}

function isMissing(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404;
}

/**
 * A blob store in an S3-compatible bucket: what a fleet uses, so an API and workers on different
 * machines share results, inputs and assets without a shared disk.
 *
 * Atomicity comes from S3 itself: a single PUT becomes visible only once the whole body arrived
 * (a PUT cut short stores nothing), and a multipart upload only on CompleteMultipartUpload, which
 * Kiln sends after the last part; a failed streamed write is aborted, and a writer killed
 * mid-upload leaves only invisible parts, which the sweep (or a bucket lifecycle rule) removes.
 */
export class S3Store implements BlobStore {
  readonly kind = 's3' as const;
  readonly client: S3Client;
  private readonly presigner: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;

  constructor(options: S3StoreOptions) {
    const base: S3ClientConfig = {
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      ...(options.credentials && { credentials: options.credentials }),
      // Checksums only where S3 requires them: many S3-compatible servers reject the SDK's
      // newer default (CRC32 trailers on every upload).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    };
    this.client = new S3Client({ ...base, ...(options.endpoint && { endpoint: options.endpoint }) });
    const publicEndpoint = options.publicEndpoint ?? options.endpoint;
    this.presigner =
      publicEndpoint === options.endpoint
        ? this.client
        : new S3Client({ ...base, ...(publicEndpoint && { endpoint: publicEndpoint }) });
    this.bucket = options.bucket;
    this.prefix = options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
    this.partSize = Math.max(5 * 1024 * 1024, options.partSizeBytes ?? 8 * 1024 * 1024);
  }

  /** Where this store writes, for a start-up log line (never credentials). */
  describe(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  private objectKey(key: string): string {
    assertKey(key);
    return `${this.prefix}${key}`;
  }

  async put(key: string, bytes: Uint8Array | string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: typeof bytes === 'string' ? Buffer.from(bytes) : bytes,
        ContentType: contentTypeOf(key),
      }),
    );
  }

  async putStream(key: string, source: Readable, maxBytes = Infinity): Promise<{ size: number; sha256: string }> {
    const objectKey = this.objectKey(key);
    const hash = createHash('sha256');
    let size = 0;
    let overLimit = false;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > maxBytes) {
          overLimit = true;
          return done(new StoreLimitError(maxBytes));
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    source.on('error', (err) => meter.destroy(err));
    source.pipe(meter);
    // Up to one part: a single PUT. Larger: a multipart upload, completed only after the last
    // part and aborted on any failure (lib-storage's default), so no reader sees part of it.
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: objectKey, Body: meter, ContentType: contentTypeOf(key) },
      partSize: this.partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      source.destroy();
      // The abort itself may fail (a server without AbortMultipartUpload): the cause that matters
      // is still the limit when the meter hit it.
      if (overLimit) throw new StoreLimitError(maxBytes);
      throw err;
    }
    return { size, sha256: hash.digest('hex') };
  }

  async openRead(key: string): Promise<Readable | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return res.Body as Readable;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async putJson(key: string, value: unknown): Promise<void> {
    await this.put(key, JSON.stringify(value));
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return Buffer.from(
        await (res.Body as Readable & { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
      );
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async getJson<T>(key: string): Promise<T | undefined> {
    const bytes = await this.get(key);
    return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as T);
  }

  async has(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async delete(keyOrPrefix: string): Promise<void> {
    const exact = this.objectKey(keyOrPrefix);
    const keys = [exact];
    for await (const object of this.list(`${exact}/`)) keys.push(object.key);
    await this.deleteKeys(keys);
  }

  async sweep(ttlMs: number, now = Date.now()): Promise<number> {
    const cutoff = now - ttlMs;
    const expired: string[] = [];
    for await (const object of this.list(this.prefix)) {
      const top = object.key.slice(this.prefix.length).split('/')[0];
      if (PERMANENT_PREFIXES.has(top)) continue;
      if (object.lastModified < cutoff) expired.push(object.key);
    }
    await this.deleteKeys(expired);
    await this.abortStaleUploads(cutoff);
    return expired.length;
  }

  async signedUrl(key: string, expiresInSeconds: number, options: { contentType?: string } = {}): Promise<string> {
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.objectKey(key),
      ...(options.contentType && { ResponseContentType: options.contentType }),
    });
    return getSignedUrl(this.presigner, command, { expiresIn: expiresInSeconds });
  }

  private async *list(prefix: string): AsyncGenerator<{ key: string; lastModified: number }> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key) yield { key: object.Key, lastModified: object.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const res = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = (res.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0)
        throw new Error(`could not delete ${failed[0].Key}: ${failed[0].Code} ${failed[0].Message}`);
    }
  }

  /**
   * Multipart uploads begun before `cutoff` and never completed (a writer killed mid-upload):
   * their parts are invisible but cost storage. Servers without ListMultipartUploads rely on a
   * bucket lifecycle rule (`AbortIncompleteMultipartUpload`, docs/operations.md) instead.
   */
  private async abortStaleUploads(cutoff: number): Promise<void> {
    let listed;
    try {
      listed = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix }));
    } catch (err) {
      if ((err as { name?: string }).name === 'NotImplemented') return;
      throw err;
    }
    for (const upload of listed.Uploads ?? []) {
      if (!upload.Key || !upload.UploadId || (upload.Initiated?.getTime() ?? 0) >= cutoff) continue;
      await this.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: upload.Key, UploadId: upload.UploadId }),
      );
    }
  }
}
