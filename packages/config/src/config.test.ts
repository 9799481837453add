import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from './config.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(8080);
    expect(c.sd15Model).toBe('tiny-sd15');
    expect(c.localMode).toBe(true);
    expect(c.host).toBe('127.0.0.1');
    expect(c.allowAnyResolution).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('keeps optimized models under the data folder unless told otherwise, and none when off', () => {
    expect(loadConfig({ KILN_DATA_DIR: '/srv/kiln' }).optimizedModelCacheDir).toBe('/srv/kiln/optimized-models');
    expect(loadConfig({ KILN_OPTIMIZED_MODEL_CACHE: '/cache/ort' }).optimizedModelCacheDir).toBe('/cache/ort');
    expect(loadConfig({ KILN_OPTIMIZED_MODEL_CACHE: 'off' }).optimizedModelCacheDir).toBeUndefined();
  });

  it('binds to every interface only when a keys file is configured', () => {
    const c = loadConfig({ KILN_KEYS_FILE: '/etc/kiln/keys.json' });
    expect(c.localMode).toBe(false);
    expect(c.host).toBe('0.0.0.0');
  });

  it('reads flags and numbers', () => {
    const c = loadConfig({ KILN_ALLOW_ANY_RESOLUTION: '1', PORT: '9000', KILN_MICRO_BATCH: '2' });
    expect(c.allowAnyResolution).toBe(true);
    expect(c.port).toBe(9000);
    expect(c.microBatchSize).toBe(2);
  });

  it('rejects invalid values with the variable named', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_EXECUTION_PROVIDER: 'tpu' })).toThrow(/KILN_EXECUTION_PROVIDER/);
  });
});
