import { describe, expect, it } from 'vitest';
import { loadClientEnv } from './client-env.js';

describe('loadClientEnv', () => {
  it('reads KILN_URL and KILN_API_KEY, empty meaning unset', () => {
    expect(loadClientEnv({ KILN_URL: 'http://kiln:8080', KILN_API_KEY: 'k' })).toEqual({
      url: 'http://kiln:8080',
      apiKey: 'k',
    });
    expect(loadClientEnv({ KILN_URL: '', KILN_API_KEY: '' })).toEqual({ url: undefined, apiKey: undefined });
  });
});
