/**
 * The asset library's part of the OpenAPI document (merged in by openapi.ts): `POST /v1/assets`
 * (multipart), `GET /v1/assets`, `GET|DELETE /v1/assets/{name}`.
 */
import { toComponent } from './openapi-component.js';
import { ASSET_TYPES, assetListSchema, assetReportSchema, assetSchema } from './assets.schema.js';

type Json = Record<string, unknown>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string) => ({ 'application/json': { schema: ref(name) } });
const response = (name: string) => ({ $ref: `#/components/responses/${name}` });
const nameParameter = {
  name: 'name',
  in: 'path',
  required: true,
  description: "The asset's name; `library:<name>` for a shared library asset.",
  schema: { type: 'string', minLength: 1 },
};

export function assetSchemas(): Record<string, Json> {
  const list = toComponent(assetListSchema);
  (list.properties as Json).assets = { type: 'array', items: ref('Asset') };
  return { Asset: toComponent(assetSchema), AssetList: list, AssetReport: toComponent(assetReportSchema) };
}

export function assetPaths(): Record<string, Json> {
  return {
    '/v1/assets': {
      post: {
        operationId: 'uploadAsset',
        tags: ['assets'],
        summary: 'Upload a LoRA, textual inversion, VAE or checkpoint (multipart: name, type, then file)',
        description:
          'The file is streamed to storage (up to `KILN_MAX_ASSET_BYTES`, else 413), hashed, and parsed with the safe ' +
          "parsers against the server's SD1.5 model: a truncated or lying safetensors, a pickle that would run code, a " +
          'LoRA or embedding of the wrong shape is a 422 naming `file`, and nothing is stored. LoRA: kohya or PEFT ' +
          'safetensors. Textual inversion: A1111 `.pt` or safetensors, diffusers `{token: vector}`. VAE: one ' +
          'self-contained ONNX decoder (`latent_sample` → `sample`). Checkpoint: a zip of a diffusers SD1.5 ONNX ' +
          "folder (no ZIP64). Names: 1..128 of `A-Za-z0-9._-`; the asset belongs to the caller's tenant.",
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['name', 'type', 'file'],
                properties: {
                  name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' },
                  type: { type: 'string', enum: [...ASSET_TYPES] },
                  file: { type: 'string', format: 'binary' },
                },
              },
              encoding: { file: { contentType: 'application/octet-stream' } },
            },
          },
        },
        responses: {
          '201': { description: 'Stored; `details` says what the check found.', content: json('Asset') },
          '401': response('Unauthorized'),
          '409': response('Conflict'),
          '413': response('PayloadTooLarge'),
          '415': { description: 'Not multipart/form-data.', content: json('ErrorBody') },
          '422': response('ValidationFailed'),
          '429': response('RateLimited'),
          '503': response('Unavailable'),
        },
      },
      get: {
        operationId: 'listAssets',
        tags: ['assets'],
        summary: "The caller's assets, then the shared library",
        responses: {
          '200': { description: 'The assets.', content: json('AssetList') },
          '401': response('Unauthorized'),
        },
      },
    },
    '/v1/assets/{name}': {
      parameters: [nameParameter],
      get: {
        operationId: 'getAsset',
        tags: ['assets'],
        summary: 'One asset: type, size, sha256',
        responses: {
          '200': { description: 'The asset.', content: json('Asset') },
          '401': response('Unauthorized'),
          '404': response('NotFound'),
        },
      },
      delete: {
        operationId: 'deleteAsset',
        tags: ['assets'],
        summary: "Delete one of the caller's assets (library assets are read-only: 403)",
        responses: {
          '204': { description: 'Deleted; requests naming it now get 422.' },
          '401': response('Unauthorized'),
          '403': { description: 'A shared library asset.', content: json('ErrorBody') },
          '404': response('NotFound'),
        },
      },
    },
  };
}
