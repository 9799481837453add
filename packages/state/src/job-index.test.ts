import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor } from './job-index.js';

describe('job listing cursors', () => {
  it('round-trip, job ids with any characters included', () => {
    for (const cursor of [
      { createdAt: 1732137600123, jobId: '3f1c2a9e-0000-4000-8000-000000000000' },
      { createdAt: 0, jobId: 'batch:b1:item:7' },
    ]) {
      const text = encodeCursor(cursor);
      expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(text)).toEqual(cursor);
    }
  });

  it('rejects text Kiln did not write', () => {
    for (const text of ['', 'bm9wZQ', encodeURIComponent('1:'), Buffer.from('abc:def').toString('base64url')]) {
      expect(decodeCursor(text), text).toBeUndefined();
    }
  });
});
