/**
 * The asset library: `POST /v1/assets` (multipart upload), `GET /v1/assets`, `GET /v1/assets/{name}`,
 * `DELETE /v1/assets/{name}`. A tenant sees, uses and deletes only its own uploads (another
 * tenant's asset answers 404, exactly like one that does not exist) and the shared `library:`
 * assets, which are read-only. Mounted at `/v1/assets`, before the app's JSON body limits: an
 * upload has its own size limit and body timeout.
 */
import { KilnError, LIBRARY_PREFIX, type AssetView } from '@kiln/contracts';
import { AssetStore, type AssetRecord } from '@kiln/state';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { callerOf } from '../auth.js';
import { libraryView, sharedAssetLibrary } from '../asset-library.js';
import { uploadAsset } from '../asset-upload.js';
import { bodyLimits, closeAfterResponse } from '../body-limits.js';
import type { ApiDeps } from '../deps.js';
import { rateLimit } from '../rate-limit.js';

/** Room for the multipart framing and the name/type fields around the file. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** A name as echoed in a 404: bounded, so a hostile path is not repeated in full. */
const shown = (name: string) => (name.length > 140 ? `${name.slice(0, 140)}…` : name);

function ownView(record: AssetRecord): AssetView {
  return {
    name: record.name,
    type: record.type,
    size_bytes: record.size,
    sha256: record.sha256,
    created_at: new Date(record.createdAt).toISOString(),
    shared: false,
    ...(record.details && { details: record.details }),
  };
}

export function assetsRoutes(deps: ApiDeps): Router {
  const router = Router();
  const assets = new AssetStore(deps.redis, deps.config.queuePrefix);
  const library = sharedAssetLibrary(deps.config.assetsDir);
  const limits = bodyLimits(
    {
      ...deps.config,
      maxBodyBytes: deps.config.maxAssetBytes + MULTIPART_OVERHEAD_BYTES,
      bodyTimeoutMs: deps.config.assetUploadTimeoutMs,
    },
    () => false,
  );
  router.use(limits, rateLimit(deps));

  router.post('/', async (req: Request, res: Response, next: NextFunction) => {
    if (!req.is('multipart/form-data')) {
      closeAfterResponse(req, res);
      return next(new KilnError('unsupported_media_type', 'send the asset as multipart/form-data: name, type, file'));
    }
    try {
      const record = await uploadAsset(req, { ...deps, assets }, callerOf(res));
      deps.logger.info(
        { tenant: record.tenant, asset: record.name, type: record.type, size: record.size },
        'asset uploaded',
      );
      res.status(201).json(ownView(record));
    } catch (err) {
      closeAfterResponse(req, res);
      next(err);
    }
  });

  router.get('/', async (_req, res) => {
    const own = await assets.list(callerOf(res).tenant);
    const shared = await library.list();
    res.json({ assets: [...own.map(ownView), ...shared.map(libraryView)] });
  });

  router.get('/:name', async (req, res) => {
    const { name } = req.params;
    if (name.startsWith(LIBRARY_PREFIX)) {
      const entry = await library.find(name.slice(LIBRARY_PREFIX.length));
      if (!entry) throw new KilnError('not_found', `no asset ${shown(name)}`);
      return res.json(libraryView(entry));
    }
    const record = await assets.get(callerOf(res).tenant, name);
    if (!record) throw new KilnError('not_found', `no asset ${shown(name)}`);
    res.json(ownView(record));
  });

  router.delete('/:name', async (req, res) => {
    const { name } = req.params;
    if (name.startsWith(LIBRARY_PREFIX)) {
      throw new KilnError(
        'forbidden',
        `${shown(name)} is a shared library asset: read-only (the operator manages KILN_ASSETS_DIR)`,
      );
    }
    const record = await assets.remove(callerOf(res).tenant, name);
    if (!record) throw new KilnError('not_found', `no asset ${shown(name)}`);
    // Jobs already queued with it keep working while a worker has it cached; new requests get 422.
    await deps.store.delete(record.key);
    res.status(204).end();
  });

  return router;
}
