/**
 * Bounds on request bodies, applied after authentication and before anything reads a body:
 * - a body whose declared `Content-Length` is over the route's limit is refused at once (413);
 * - bodies being received at once are counted, per client address (429 above
 *   `KILN_MAX_UPLOADS_PER_CLIENT`) and in all (503 above `KILN_MAX_UPLOADS`), so slow senders
 *   cannot hold every connection and buffer;
 * - a body must have arrived within `KILN_BODY_TIMEOUT_MS` of its headers (batch uploads:
 *   `KILN_BATCH_BODY_TIMEOUT_MS`), else 408 and the connection is closed.
 * An answer sent before its body was read closes the connection (see {@link closeAfterResponse}).
 */
import type { KilnConfig } from '@kiln/config';
import { KilnError } from '@kiln/contracts';
import type { NextFunction, Request, Response } from 'express';
import type { Socket } from 'node:net';

type Limits = Pick<
  KilnConfig,
  'maxBodyBytes' | 'batchMaxBodyBytes' | 'bodyTimeoutMs' | 'batchBodyTimeoutMs' | 'maxUploads' | 'maxUploadsPerClient'
>;

/** How long a refused client may go on sending (discarded) before the connection is cut. */
const LINGER_MS = 2000;

const hasBody = (req: Request) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

/**
 * Ends the connection after this response instead of reading the rest of an unread body. The
 * socket's write side closes first and what the client still sends is read off for a moment, so
 * that it reads this answer rather than a connection reset (a "lingering close").
 */
export function closeAfterResponse(req: Request, res: Response): void {
  if (res.headersSent) return;
  res.set('Connection', 'close');
  const socket = req.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket) return; // the client has gone already
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

export function bodyLimits(config: Readonly<Limits>, isBatchUpload: (req: Request) => boolean) {
  let inFlight = 0;
  const perClient = new Map<string, number>();

  return (req: Request, res: Response, next: NextFunction) => {
    if (!hasBody(req) || req.complete) return next();
    const batch = isBatchUpload(req);
    const limit = batch ? config.batchMaxBodyBytes : config.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      return next(
        new KilnError('payload_too_large', `the body declares ${declared} bytes, over the limit of ${limit}`),
      );
    }
    const client = req.ip ?? req.socket.remoteAddress ?? '';
    const mine = perClient.get(client) ?? 0;
    if (mine >= config.maxUploadsPerClient) {
      return next(
        new KilnError('rate_limited', `this address is already sending ${mine} request bodies; finish those first`, {
          retryAfterSeconds: 1,
        }),
      );
    }
    if (inFlight >= config.maxUploads) {
      const message = `${inFlight} request bodies are arriving at once, the most this server takes`;
      return next(new KilnError('service_unavailable', message, { retryAfterSeconds: 1 }));
    }
    inFlight++;
    perClient.set(client, mine + 1);
    const timeoutMs = batch ? config.batchBodyTimeoutMs : config.bodyTimeoutMs;
    const timer = setTimeout(() => {
      if (req.complete) return release();
      if (!res.headersSent) {
        closeAfterResponse(req, res);
        const error = new KilnError('timeout', `the request body did not arrive within ${timeoutMs} ms`, {
          status: 408,
        });
        res.status(408).json(error.toBody());
      } else {
        req.socket?.destroy();
      }
      release();
    }, timeoutMs);
    timer.unref();
    let released = false;
    function release() {
      if (released) return;
      released = true;
      clearTimeout(timer);
      inFlight--;
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    }
    req.once('end', release);
    req.once('close', release);
    next();
  };
}
