/**
 * Who is looking: whether the API wants a key (local mode does not), and whether the key is an
 * operator's. Both are asked of the API, never guessed: `/ui/mode.json` says whether there are keys
 * at all, `GET /v1/jobs` answers 401 to a wrong key, and `GET /v1/queue` answers 200 to an operator
 * and 403 to a tenant.
 */
import { api, ApiError, storedKey } from './api.js';

export type FleetAccess = 'operator' | 'tenant' | 'unavailable';

export interface Session {
  /** True in local mode (no keys file): no key was needed. */
  localMode: boolean;
  fleet: FleetAccess;
}

/** The session for the stored key (or none); undefined when the API wants a key it was not given. */
export async function probeSession(): Promise<Session | undefined> {
  const { local_mode: localMode } = await api<{ local_mode: boolean }>('ui/mode.json');
  // Without a key a keyed API would only answer 401 (and count a failed authentication): ask for one.
  if (!localMode && storedKey() === null) return undefined;
  try {
    await api('v1/jobs?limit=1');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    throw err;
  }
  return { localMode, fleet: await fleetAccess() };
}

async function fleetAccess(): Promise<FleetAccess> {
  try {
    await api('v1/queue');
    return 'operator';
  } catch (err) {
    if (err instanceof ApiError && (err.status === 403 || err.status === 401)) return 'tenant';
    // 404: an API without the fleet endpoints
    return 'unavailable';
  }
}
