/**
 * `?image_urls=1`: images handed out as presigned, expiring URLs straight to the object store, so
 * a large dataset downloads from storage instead of through the API. Only routes that have
 * already checked the caller owns the job (or batch) call this: a URL is never minted for
 * another tenant's image.
 */
import type { BlobStore } from '@kiln/storage';
import { QueryValidationError, queryString } from './query-params.js';

/** Whether the caller asked for storage URLs (`image_urls=1`). */
export function wantsImageUrls(query: Record<string, unknown>): boolean {
  const value = queryString(query, 'image_urls');
  if (value === undefined || value === '0' || value === 'false') return false;
  if (value === '1' || value === 'true') return true;
  throw new QueryValidationError('image_urls', 'must be 1 or 0');
}

export interface ImageUrlSigner {
  store: BlobStore;
  ttlSeconds: number;
}

/** The storage fields of one image: its checksum and, where the store has URLs, a presigned one. */
export async function storageUrlFields(
  signer: ImageUrlSigner,
  image: { key?: string | null; sha256?: string | null; contentType: string },
): Promise<{ sha256: string | null; image_url: string | null; image_url_expires_at: string | null }> {
  const sha256 = image.sha256 ?? null;
  if (!image.key) return { sha256, image_url: null, image_url_expires_at: null };
  // The expiry is stated from before signing, so it is never later than the URL's own.
  const expiresAt = new Date(Date.now() + signer.ttlSeconds * 1000).toISOString();
  const url = await signer.store.signedUrl(image.key, signer.ttlSeconds, { contentType: image.contentType });
  return { sha256, image_url: url ?? null, image_url_expires_at: url ? expiresAt : null };
}
