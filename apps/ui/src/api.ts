/**
 * The dashboard's one way to the API: the same routes and the same keys as any client. The key the
 * user typed is kept in sessionStorage (gone when the tab closes, never sent anywhere but the
 * `Authorization` header of this origin's API); in local mode no key is needed.
 */

const KEY_STORAGE = 'kiln.apiKey';

/** The API's root, from the page's own address (`…/ui/` → `…/`), so a path prefix in front of Kiln still works. */
export const apiBase = new URL('../', location.href);

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** A refusal or failure of the API, with its machine-readable code and the field it names. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function authHeaders(): Record<string, string> {
  const key = storedKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

async function errorOf(res: Response): Promise<ApiError> {
  const body = (await res.json().catch(() => undefined)) as
    | { error?: { code?: string; message?: string; field?: string }; detail?: { loc?: unknown[]; msg?: string }[] }
    | undefined;
  const first = body?.detail?.[0];
  const field = body?.error?.field ?? (first?.loc ? String(first.loc[first.loc.length - 1]) : undefined);
  const message = first?.msg ? `${field ?? 'request'}: ${first.msg}` : (body?.error?.message ?? res.statusText);
  return new ApiError(res.status, body?.error?.code ?? `http_${res.status}`, message, field);
}

/** Sends a request to the API with the stored key; JSON in, JSON out; a non-2xx answer throws {@link ApiError}. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<T> {
  const res = await fetch(new URL(path, apiBase), {
    method: init.method ?? 'GET',
    headers: {
      ...authHeaders(),
      ...(init.body !== undefined && { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!res.ok) throw await errorOf(res);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/**
 * The first `maxLines` lines of a JSONL answer (a batch's results), read as they stream in; the
 * rest of the body is not downloaded.
 */
export async function apiLines<T>(path: string, maxLines: number): Promise<T[]> {
  const res = await fetch(new URL(path, apiBase), { headers: authHeaders() });
  if (!res.ok || !res.body) throw await errorOf(res);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const lines: T[] = [];
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    const parts = (rest + (value ?? '')).split('\n');
    rest = done ? '' : (parts.pop() ?? '');
    for (const line of parts) if (line.trim() && lines.length < maxLines) lines.push(JSON.parse(line) as T);
    if (done) break;
    if (lines.length >= maxLines) {
      await reader.cancel();
      break;
    }
  }
  return lines;
}

/** Image bytes need the key too (an `<img src>` cannot send it): fetched, then shown from a blob URL. */
export async function imageBlobUrl(path: string): Promise<string> {
  const res = await fetch(new URL(path, apiBase), { headers: authHeaders() });
  if (!res.ok) throw await errorOf(res);
  return URL.createObjectURL(await res.blob());
}
