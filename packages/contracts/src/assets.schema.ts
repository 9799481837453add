/**
 * The asset library: custom checkpoints, LoRAs, textual inversions and VAEs a tenant uploads
 * (`POST /v1/assets`) or an operator installs for everyone (`library:<name>`, read-only), and the
 * resolved form a render job carries so that a worker finds the exact bytes the API checked.
 */
import { z } from 'zod';
import { REQUEST_LIMITS } from './request-fields.js';

/** The kinds of asset, as `POST /v1/assets` names them in `type`. */
export const ASSET_TYPES = ['checkpoint', 'lora', 'textual_inversion', 'vae', 'controlnet'] as const;

/** One of {@link ASSET_TYPES}. */
export type AssetType = (typeof ASSET_TYPES)[number];

/** Prefix of the operator's shared, read-only assets (`KILN_ASSETS_DIR`). */
export const LIBRARY_PREFIX = 'library:';

/**
 * An asset's own name: the alphabet of API key ids and storage key segments (no `/`, no `..`, no
 * leading dot), so a name can never be read as a path.
 */
export const ASSET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export const assetNameSchema = z
  .string()
  .regex(ASSET_NAME_PATTERN, {
    message: 'an asset name is 1..128 characters of A-Z a-z 0-9 . _ - and starts with a letter or digit',
  })
  .describe('Asset name: 1..128 characters of `A-Za-z0-9._-`, starting with a letter or digit.');

/** The request field that names assets of each type (the field a 422 points at). */
export const ASSET_FIELD: Readonly<Record<AssetType, string>> = {
  checkpoint: 'checkpoint',
  lora: 'loras',
  textual_inversion: 'textual_inversions',
  vae: 'vae',
  controlnet: 'controlnet',
};

/** One asset as `GET /v1/assets` lists it. */
export const assetSchema = z
  .object({
    name: z.string().describe("The name a request uses; `library:<name>` for the operator's shared assets."),
    type: z.enum(ASSET_TYPES),
    size_bytes: z.int().min(0).describe('Size of the stored file (for a folder asset, of all its files).'),
    sha256: z.string().nullable().describe('SHA-256 of the stored file, hex; null for a folder asset.'),
    created_at: z.string().describe('When it was uploaded or installed (ISO 8601).'),
    shared: z.boolean().describe('true for `library:` assets: read-only, visible to every tenant.'),
    details: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('What the upload check found: LoRA layers and keys that match no module, embedding vectors.'),
  })
  .meta({ description: 'An asset in the library.' });

export type AssetView = z.output<typeof assetSchema>;

export const assetListSchema = z
  .object({ assets: z.array(assetSchema) })
  .meta({ description: "The caller's assets, then the shared library, each by name." });

/**
 * Where a job finds one asset: an upload (its storage key and checksum, so a worker's cache is
 * keyed by content and a swapped file is noticed) or a library entry (its path under
 * `KILN_ASSETS_DIR`, relative, in safe segments).
 */
export const resolvedAssetSchema = z.discriminatedUnion('source', [
  z.strictObject({
    source: z.literal('upload'),
    name: z.string().min(1).max(REQUEST_LIMITS.assetNameMaxChars),
    type: z.enum(ASSET_TYPES),
    key: z.string().min(1),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    size: z.int().min(0),
  }),
  z.strictObject({
    source: z.literal('library'),
    name: z.string().min(1).max(REQUEST_LIMITS.assetNameMaxChars),
    type: z.enum(ASSET_TYPES),
    path: z.string().regex(/^(checkpoint|lora|textual_inversion|vae|controlnet)\/[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/),
  }),
]);

export type ResolvedAsset = z.output<typeof resolvedAssetSchema>;

/** A job's assets, resolved by the API at intake, in the request's order. */
export const jobAssetsSchema = z.strictObject({
  checkpoint: resolvedAssetSchema.optional(),
  vae: resolvedAssetSchema.optional(),
  loras: z.array(z.strictObject({ asset: resolvedAssetSchema, weight: z.number() })).optional(),
  textual_inversions: z.array(z.strictObject({ asset: resolvedAssetSchema, trigger: z.string().min(1) })).optional(),
  /** The request's ControlNet assets by the name it gave (`model:` ControlNets are in the model folder, not here). */
  controlnets: z.record(z.string(), resolvedAssetSchema).optional(),
});

export type JobAssets = z.output<typeof jobAssetsSchema>;

/** What applying a job's assets did, reported with its result (`GET /v1/jobs/{id}`). */
export const assetReportSchema = z
  .object({
    merged_lora_layers: z.int().min(0),
    unmatched_lora_keys: z
      .array(z.object({ lora: z.string(), key: z.string(), reason: z.string() }))
      .describe('LoRA keys that changed nothing, with the reason: reported, never silently dropped.'),
    added_tokens: z.record(z.string(), z.int()).describe('Textual-inversion tokens and their ids.'),
    load_ms: z.number().describe('Time this job spent getting the model with its assets (0 when cached).'),
  })
  .meta({ description: "What applying the job's custom assets did." });

export type AssetReport = z.output<typeof assetReportSchema>;
