/**
 * Ids in paths are checked before any route runs. Job and batch ids are UUIDs the API generates
 * (lower-case, as `randomUUID` writes them), so anything else names nothing: 404 at once, before
 * a lookup reaches Redis. That keeps ids from colliding with the queue library's own keys
 * (`/v1/jobs/events` once read BullMQ's event stream and answered 500 WRONGTYPE) and keeps
 * malformed percent-escapes away from the router's decoder.
 */
import { KilnError } from '@kiln/contracts';
import type { NextFunction, Request, Response } from 'express';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `/v1/<kind>/<id>` and everything below it. */
const ID_PATH = /^\/v1\/(jobs|requests|responses|batches)\/([^/]+)(?:\/(.*))?$/;
const IMAGE_INDEX = /^images\/([^/]+)$/;
const NOUN = { jobs: 'job', requests: 'job', responses: 'job', batches: 'batch' } as const;

/**
 * An id as shown in an error message: as the routes show a well-formed one (so a malformed id and
 * another tenant's id read alike), but bounded, so a hostile path is not echoed in full.
 */
const shown = (text: string) => (text.length > 64 ? `${text.slice(0, 64)}…` : text);

export function checkIdParams() {
  return (req: Request, _res: Response, next: NextFunction) => {
    const match = ID_PATH.exec(req.path);
    if (!match) return next();
    const [, kind, id, rest] = match as unknown as [string, keyof typeof NOUN, string, string | undefined];
    if (!UUID.test(id)) return next(new KilnError('not_found', `no ${NOUN[kind]} ${shown(id)}`));
    const index = rest === undefined ? undefined : IMAGE_INDEX.exec(rest)?.[1];
    if (index !== undefined && !/^\d{1,4}$/.test(index)) {
      return next(new KilnError('not_found', `job ${id} has no image ${shown(index)}`));
    }
    next();
  };
}
