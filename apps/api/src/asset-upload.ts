/**
 * `POST /v1/assets`: a multipart upload (`name`, `type`, then `file`) streamed to storage as it
 * arrives — hashed on the way, cut off past `KILN_MAX_ASSET_BYTES` — then parsed with the
 * diffusion core's safe parsers and checked against the server's SD1.5 model, and only then
 * recorded for the tenant. Anything refused leaves nothing behind: the file is deleted and no
 * record is written.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { ASSET_TYPES, KilnError, assetNameSchema, bodyValidationError, type AssetType } from '@kiln/contracts';
import {
  AssetError,
  checkEmbeddingFile,
  checkLoraFile,
  checkpointArchiveFiles,
  checkVaeDecoderFile,
  checkControlNetFile,
} from '@kiln/diffusion/asset-check';
import type { AssetRecord } from '@kiln/state';
import { StoreLimitError, assetKey } from '@kiln/storage';
import busboy from 'busboy';
import type { Request } from 'express';
import type { Caller } from './auth.js';
import type { ApiDeps } from './deps.js';

/** The stored file's extension per type (the core tells formats apart by content, not by name). */
const EXTENSION: Readonly<Record<AssetType, string>> = {
  checkpoint: 'zip',
  lora: 'safetensors',
  textual_inversion: 'bin',
  vae: 'onnx',
  controlnet: 'onnx',
};

type UploadDeps = Pick<ApiDeps, 'config' | 'store' | 'models'>;

const invalid = (field: string, message: string) =>
  new KilnError('invalid_request', message, { validation: bodyValidationError(field, message).detail });

/** Reads the multipart body: validated name and type, and the stored (not yet checked) file. */
function receive(
  req: Request,
  deps: UploadDeps,
): Promise<{ name: string; type: AssetType; key: string; size: number; sha256: string }> {
  const maxBytes = deps.config.maxAssetBytes;
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // One byte over the limit reaches putStream, which then refuses the file.
        limits: { files: 1, fields: 2, fieldSize: 1024, fileSize: maxBytes + 1 },
      });
    } catch (err) {
      return reject(new KilnError('unsupported_media_type', `send multipart/form-data (${(err as Error).message})`));
    }
    const fields: { name?: string; type?: AssetType } = {};
    let stored: Promise<{ key: string; size: number; sha256: string }> | undefined;
    let fileStream: { destroy(): void } | undefined;
    let failed: Error | undefined;
    const fail = (err: Error) => {
      if (failed) return;
      failed = err;
      req.unpipe(parser);
      req.resume(); // the rest of the body is read off and dropped; the answer closes the connection
      fileStream?.destroy(); // putStream sees a premature close and removes its partial file
      void stored?.then((file) => deps.store.delete(file.key)).catch(() => undefined);
      reject(err);
    };
    parser.on('field', (field, value) => {
      if (field === 'name') {
        const parsed = assetNameSchema.safeParse(value);
        if (!parsed.success) return fail(invalid('name', parsed.error.issues[0]?.message ?? 'invalid name'));
        fields.name = value;
      } else if (field === 'type') {
        if (!(ASSET_TYPES as readonly string[]).includes(value)) {
          return fail(invalid('type', `type must be one of ${ASSET_TYPES.join(', ')}`));
        }
        fields.type = value as AssetType;
      } else {
        fail(invalid(field, `unknown field ${JSON.stringify(field)}: send name, type and file`));
      }
    });
    parser.on('file', (field, stream) => {
      if (field !== 'file') {
        stream.resume();
        return fail(invalid(field, `the file goes in the field "file", not ${JSON.stringify(field)}`));
      }
      if (!fields.name || !fields.type) {
        stream.resume();
        return fail(invalid('file', 'send the name and type fields before the file'));
      }
      fileStream = stream;
      // A broken body errors the stream before putStream pipes it; the parser reports that error.
      stream.on('error', () => undefined);
      const key = assetKey(randomUUID(), EXTENSION[fields.type]);
      stored = deps.store.putStream(key, stream, maxBytes).then(
        (result) => ({ key, ...result }),
        (err: Error) => {
          stream.resume();
          throw err instanceof StoreLimitError
            ? new KilnError(
                'payload_too_large',
                `the file is over the limit of ${maxBytes} bytes (KILN_MAX_ASSET_BYTES)`,
              )
            : err;
        },
      );
      stored.catch(fail);
    });
    parser.on('fieldsLimit', () => fail(invalid('file', 'send exactly the fields name, type and file')));
    parser.on('filesLimit', () => fail(invalid('file', 'send one file')));
    parser.on('error', (err: Error) => fail(invalid('file', `malformed multipart body: ${err.message}`)));
    parser.on('close', () => {
      if (failed) return;
      if (!stored) return fail(invalid('file', 'the upload has no file'));
      stored.then((file) => resolve({ name: fields.name as string, type: fields.type as AssetType, ...file }), fail);
    });
    req.pipe(parser);
  });
}

/** What the core's parsers make of the file; an {@link AssetError} becomes a 422 naming `file`. */
async function checkFile(
  deps: UploadDeps,
  type: AssetType,
  bytes: Uint8Array,
  name: string,
): Promise<Record<string, unknown>> {
  if (!(await deps.models.isAvailable('sd15'))) {
    throw new KilnError('model_unavailable', 'no SD1.5 model is configured to check the asset against', {
      retryAfterSeconds: 60,
    });
  }
  const modelDir = path.join(deps.config.modelsDir, deps.config.sd15Model);
  try {
    if (type === 'lora') {
      const { layers, unmatched } = await checkLoraFile(bytes, name, modelDir);
      return { lora_layers: layers, unmatched_keys: unmatched.map(({ key, reason }) => ({ key, reason })) };
    }
    if (type === 'textual_inversion') return await checkEmbeddingFile(bytes, name, modelDir);
    if (type === 'checkpoint') return { files: checkpointArchiveFiles(bytes, name).size };
    if (type === 'controlnet') return checkControlNetFile(bytes, name);
    const { latentChannels } = checkVaeDecoderFile(bytes, name);
    if (latentChannels !== undefined && latentChannels !== 4) {
      throw new AssetError('shape_mismatch', `decodes ${latentChannels}-channel latents; SD1.5's have 4`, name);
    }
    return {};
  } catch (err) {
    if (err instanceof AssetError) {
      throw invalid('file', `the ${type} file is refused (${err.code}): ${err.message}`);
    }
    throw err;
  }
}

/** Receives, checks and records one upload; returns its record. */
export async function uploadAsset(
  req: Request,
  deps: UploadDeps & { assets: { create(r: AssetRecord): Promise<boolean> } },
  caller: Caller,
): Promise<AssetRecord> {
  const file = await receive(req, deps);
  try {
    const bytes = (await deps.store.get(file.key)) ?? new Uint8Array();
    const details = await checkFile(deps, file.type, bytes, file.name);
    const record: AssetRecord = { tenant: caller.tenant, createdAt: Date.now(), details, ...file };
    if (!(await deps.assets.create(record))) {
      throw new KilnError('conflict', `an asset named ${file.name} exists already; delete it first`, { field: 'name' });
    }
    return record;
  } catch (err) {
    await deps.store.delete(file.key);
    throw err;
  }
}
