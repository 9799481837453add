import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '@kiln/config';
import { ModelCatalog } from './deps.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ModelCatalog', () => {
  it('answers from a cache within its TTL and sees a model installed after it', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-catalog-'));
    const config = loadConfig({ KILN_MODELS_DIR: dir, KILN_SD15_MODEL: 'later' });
    const catalog = new ModelCatalog(config, 50);
    expect(await catalog.isAvailable('sd15')).toBe(false);

    await mkdir(path.join(dir, 'later'));
    await writeFile(path.join(dir, 'later', 'model_index.json'), '{}');
    expect(await catalog.isAvailable('sd15')).toBe(false); // cached
    await new Promise((r) => setTimeout(r, 60));
    expect(await catalog.isAvailable('sd15')).toBe(true);
    expect(await catalog.isAvailable('sd3')).toBe(false); // no SD3 model configured
  });
});
