/**
 * The environment of Kiln's client commands (`kiln batch`): where the API is and which key to
 * use. Separate from {@link loadConfig}, which describes a server.
 */
export interface ClientEnv {
  /** KILN_URL: the API's base URL. */
  url: string | undefined;
  /** KILN_API_KEY: the bearer token. */
  apiKey: string | undefined;
}

export function loadClientEnv(env: Record<string, string | undefined> = process.env): ClientEnv {
  const value = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  return { url: value('KILN_URL'), apiKey: value('KILN_API_KEY') };
}
