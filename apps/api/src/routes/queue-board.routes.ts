/**
 * BullMQ's own view of the render queue (bull-board) at /ui/queues, for operators, read-only:
 * changing jobs behind Kiln's back would skip its job lifecycle (usage, batch counts, webhooks),
 * so retries, removals and cleans are off. Job data is shown as job records keep it: prompts
 * only when the request set `log_prompt`.
 *
 * A browser opening the board cannot send `Authorization: Bearer`, so the dashboard trades the
 * operator's key for a cookie first (`POST /v1/ui/queue-board-session`): the key id, an expiry and
 * an HMAC of both keyed by the key's stored digest. Every API replica can check it from the keys
 * file alone; it is never the key itself; removing the key or its operator flag ends it at once.
 * In local mode (no keys file) the board is open, like the rest of the API.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { KilnError, recordableRequest } from '@kiln/contracts';
import { Router, type NextFunction, type Request, type Response } from 'express';
import { operatorOf, type KeyRing } from '../auth.js';
import type { ApiDeps } from '../deps.js';

export const QUEUE_BOARD_PATH = '/ui/queues';
const COOKIE = 'kiln_queue_board';
const SESSION_SECONDS = 3600;

function signature(keyId: string, expires: number, keyDigest: string): Buffer {
  return createHmac('sha256', Buffer.from(keyDigest, 'hex')).update(`queue-board.${keyId}.${expires}`).digest();
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/** Whether the board cookie is one this keys file signed for a current operator key, not expired. */
function validSession(keys: KeyRing, cookie: string | undefined, now = Date.now()): boolean {
  const [keyId, expiresText, mac] = (cookie ?? '').split('.');
  const expires = Number(expiresText);
  if (!keyId || !mac || !Number.isInteger(expires) || expires * 1000 < now) return false;
  const key = keys.byId(keyId);
  if (!key?.operator) return false;
  const expected = signature(keyId, expires, key.token_sha256);
  const given = Buffer.from(mac, 'base64url');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** `POST /v1/ui/queue-board-session` (an operator's key, after authentication): sets the board's cookie. */
export function queueBoardSessionRoutes(deps: Pick<ApiDeps, 'keys'>): Router {
  const router = Router();
  router.post('/v1/ui/queue-board-session', (req, res) => {
    const caller = operatorOf(res);
    const key = deps.keys?.byId(caller.keyId);
    if (key) {
      const expires = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
      const mac = signature(key.id, expires, key.token_sha256).toString('base64url');
      res.cookie(COOKIE, `${key.id}.${expires}.${mac}`, {
        httpOnly: true,
        sameSite: 'strict',
        secure: req.secure,
        path: QUEUE_BOARD_PATH,
        maxAge: SESSION_SECONDS * 1000,
      });
    }
    res.status(204).end();
  });
  return router;
}

/** The board itself, mounted before authentication (it checks its cookie instead). */
export function queueBoardRoutes(deps: Pick<ApiDeps, 'keys' | 'queue'>): Router {
  const router = Router();
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  const renderQueue = new BullMQAdapter(deps.queue, {
    readOnlyMode: true,
    allowRetries: false,
    description: 'Render jobs (read-only: Kiln owns their lifecycle)',
  });
  renderQueue.setFormatter('data', (data: { request?: Parameters<typeof recordableRequest>[0] } | undefined) =>
    data?.request ? { ...data, request: recordableRequest(data.request) } : data,
  );
  createBullBoard({
    queues: [renderQueue],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Kiln queues' } },
  });

  router.use(QUEUE_BOARD_PATH, (req: Request, res: Response, next: NextFunction) => {
    // bull-board's page: its own scripts and styles (some inline), nothing framed, nothing posted elsewhere
    res.set({
      'Content-Security-Policy':
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "frame-ancestors 'none'; base-uri 'self'; form-action 'none'",
      'Referrer-Policy': 'no-referrer',
    });
    if (deps.keys && !validSession(deps.keys, cookieOf(req, COOKIE))) {
      return next(
        new KilnError('unauthorized', 'the queue board needs an operator: open it from the dashboard (/ui) signed in'),
      );
    }
    next();
  });
  router.use(QUEUE_BOARD_PATH, serverAdapter.getRouter() as Router);
  return router;
}
