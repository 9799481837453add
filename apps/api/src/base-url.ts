import type { KilnConfig } from '@kiln/config';
import type { Request } from 'express';

/** The base of links handed to clients: KILN_PUBLIC_URL when set, else the request's own origin. */
export function baseUrlOf(req: Request, config: Readonly<KilnConfig>): string {
  return config.publicUrl?.replace(/\/$/, '') ?? `${req.protocol}://${req.get('host')}`;
}
