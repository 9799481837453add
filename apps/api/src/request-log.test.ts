import { describe, expect, it } from 'vitest';
import { loggableHeaders, loggableUrl } from './request-log.js';

describe('the access log', () => {
  it('keeps the values of known query parameters and replaces every other one', () => {
    expect(loggableUrl('/v1/jobs?limit=5&status=failed')).toBe('/v1/jobs?limit=5&status=failed');
    expect(loggableUrl('/v1/jobs?limit=5&api_key=kiln_secret&token=t')).toBe(
      '/v1/jobs?limit=5&api_key=[redacted]&token=[redacted]',
    );
    expect(loggableUrl('/v1/batches?webhook_url=https%3A%2F%2Fu%3Ap%40host')).toBe(
      '/v1/batches?webhook_url=[redacted]',
    );
    expect(loggableUrl('/v1/jobs?%ff=x&limit')).toBe('/v1/jobs?%ff=[redacted]&limit');
    expect(loggableUrl('/healthz')).toBe('/healthz');
  });

  it('logs only headers that carry no credentials', () => {
    const logged = loggableHeaders({
      'content-type': 'application/json',
      authorization: 'Bearer kiln_secret',
      'x-api-key': 'kiln_secret',
      cookie: 'sid=secret',
      'x-custom-token': 'secret',
    });
    expect(logged).toEqual({ 'content-type': 'application/json' });
  });
});
