/**
 * An asset (LoRA, embedding, VAE, checkpoint) that cannot be used as given: a malformed or lying
 * file, code hidden in a pickle, shapes that do not fit the model. The API maps it to 422 naming
 * the asset; it is never retried, because the same bytes fail the same way.
 */
export class AssetError extends Error {
  constructor(
    /** Machine-readable reason, e.g. `invalid_safetensors`, `unsafe_pickle`, `shape_mismatch`. */
    readonly code: AssetErrorCode,
    message: string,
    /** The asset at fault (file name or library name), when known. */
    readonly asset?: string,
  ) {
    super(asset ? `${asset}: ${message}` : message);
    this.name = 'AssetError';
  }
}

export type AssetErrorCode =
  | 'invalid_safetensors'
  | 'invalid_zip'
  | 'invalid_pickle'
  | 'unsafe_pickle'
  | 'invalid_lora'
  | 'invalid_embedding'
  | 'shape_mismatch'
  | 'token_conflict'
  | 'invalid_model';
