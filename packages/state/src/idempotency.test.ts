import { describe, expect, it } from 'vitest';
import { canonicalJson, requestFingerprint } from './idempotency.js';

describe('requestFingerprint', () => {
  it('is the same for the same request whatever the key order of the body', () => {
    const a = requestFingerprint('POST', '/generate/sd', { prompt: 'cat', steps: 4, loras: { b: 1, a: 2 } });
    const b = requestFingerprint('post', '/generate/sd', { loras: { a: 2, b: 1 }, steps: 4, prompt: 'cat' });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('differs when the body, the path or the method differs', () => {
    const base = requestFingerprint('POST', '/generate/sd', { prompt: 'cat' });
    expect(requestFingerprint('POST', '/generate/sd', { prompt: 'dog' })).not.toBe(base);
    expect(requestFingerprint('POST', '/generate/sd3', { prompt: 'cat' })).not.toBe(base);
    expect(requestFingerprint('PUT', '/generate/sd', { prompt: 'cat' })).not.toBe(base);
    // Array order is meaningful (seeds), unlike key order.
    expect(requestFingerprint('POST', '/p', { seed: [1, 2] })).not.toBe(
      requestFingerprint('POST', '/p', { seed: [2, 1] }),
    );
  });

  it('takes raw bytes for non-JSON bodies', () => {
    const lines = Buffer.from('{"a":1}\n{"b":2}\n');
    expect(requestFingerprint('POST', '/v1/batches', lines)).toBe(
      requestFingerprint('POST', '/v1/batches', Buffer.from(lines)),
    );
    expect(requestFingerprint('POST', '/v1/batches', lines)).not.toBe(
      requestFingerprint('POST', '/v1/batches', Buffer.from('{"a":1}\n')),
    );
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every depth and keeps arrays in order', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }], a: null })).toBe('{"a":null,"b":[{"c":2,"d":1}]}');
    expect(canonicalJson(undefined)).toBe('');
  });
});
