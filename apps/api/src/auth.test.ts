import { createHash } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { KeyRing, KeysFileError } from './auth.js';

const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const key = (id: string, tenant: string, token: string, extra: object = {}) => ({
  id,
  tenant,
  token_sha256: sha(token),
  ...extra,
});

function keysFile(content: unknown): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kiln-auth-')), 'keys.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** Replace the file the way editors and config tools do: write aside, rename over. */
function replace(file: string, content: unknown): void {
  writeFileSync(`${file}.new`, typeof content === 'string' ? content : JSON.stringify(content));
  renameSync(`${file}.new`, file);
}

describe('KeyRing', () => {
  it('finds a key by its bearer token, and only by it', () => {
    const ring = new KeyRing(keysFile({ keys: [key('k1', 'acme', 'secret-1', { rate_limit_per_minute: 60 })] }));
    expect(ring.find('secret-1')).toMatchObject({
      id: 'k1',
      tenant: 'acme',
      lane: 'interactive',
      rate_limit_per_minute: 60,
    });
    expect(ring.find('secret-2')).toBeUndefined();
    expect(ring.find('')).toBeUndefined();
    expect(ring.byId('k1')?.tenant).toBe('acme');
  });

  it('re-reads the file when it changes, in place or by rename', () => {
    const file = keysFile({ keys: [key('k1', 'acme', 'one')] });
    const ring = new KeyRing(file);
    replace(file, { keys: [key('k2', 'acme', 'two')] });
    expect(ring.find('one')).toBeUndefined();
    expect(ring.find('two')?.id).toBe('k2');
    writeFileSync(file, JSON.stringify({ keys: [key('k3', 'globex', 'three'), key('k2', 'acme', 'two')] }));
    expect(ring.find('three')?.tenant).toBe('globex');
  });

  it('keeps the last good keys while the file is broken, and reports each problem once', () => {
    const file = keysFile({ keys: [key('k1', 'acme', 'one')] });
    const errors: string[] = [];
    const ring = new KeyRing(file, (err) => errors.push(err.message));
    replace(file, '{"keys": [');
    expect(ring.find('one')?.id).toBe('k1');
    expect(ring.find('one')?.id).toBe('k1');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(file);
    replace(file, { keys: [key('k2', 'acme', 'two')] });
    expect(ring.find('two')?.id).toBe('k2');
  });

  it('refuses to start with an invalid file, naming the problem', () => {
    expect(() => new KeyRing(keysFile('not json'))).toThrow(KeysFileError);
    expect(() => new KeyRing(keysFile({ keys: [{ id: 'k1', tenant: 'acme', token_sha256: 'abc' }] }))).toThrow(
      /keys\.0\.token_sha256/,
    );
    expect(() => new KeyRing(keysFile({ keys: [key('k1', 'a:b', 't')] }))).toThrow(/keys\.0\.tenant/);
    expect(() => new KeyRing(keysFile({ keys: [key('k1', 'acme', 't'), key('k1', 'acme', 'u')] }))).toThrow(
      /duplicate key id k1/,
    );
    expect(() => new KeyRing(keysFile({ keys: [key('k1', 'acme', 't', { lane: 'fast' })] }))).toThrow(/lane/);
  });
});
